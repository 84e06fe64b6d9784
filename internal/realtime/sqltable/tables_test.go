package sqltable

import (
	"slices"
	"testing"
)

func TestTables(t *testing.T) {
	var c Tables[int]
	if _, ok := c.Lookup("a"); ok {
		t.Fatal("empty cache has a")
	}
	if got := c.Store("db\x00a", 1); got != 1 {
		t.Fatalf("Store = %d", got)
	}
	if got := c.Store("db\x00a", 2); got != 1 { // the first stored wins
		t.Fatalf("second Store = %d", got)
	}
	c.Store("db\x00b", 3)
	c.Store("other\x00a", 4)
	if v, ok := c.Lookup("db\x00a"); !ok || v != 1 {
		t.Fatalf("Lookup = %d, %v", v, ok)
	}
	c.Forget("db\x00a")
	if _, ok := c.Lookup("db\x00a"); ok {
		t.Fatal("Forget kept db/a")
	}
	c.ForgetIf(func(k string) bool { return k[0] == 'd' })
	if all := c.All(); !slices.Equal(all, []int{4}) {
		t.Fatalf("after ForgetIf: %v", all)
	}
	c.ForgetIf(nil)
	if len(c.All()) != 0 {
		t.Fatal("ForgetIf(nil) kept values")
	}
}
