package dialplan

import (
	"context"
	"testing"
)

// CALLERID(all)= reads its value with the one Caller ID parser (callerid.Split), as
// Asterisk's ast_callerid_split does.
func TestCallerIDAllWrite(t *testing.T) {
	for _, c := range []struct{ in, name, num string }{
		{`"Bob" <200>`, "Bob", "200"},
		{`"Bob" <(555) 123-4567>`, "Bob", "5551234567"},
		{`555-1212`, "", "5551212"},
		{`"Bob Jr" x <200>`, "Bob Jr", "200"},
		{`Alice`, "Alice", ""},
	} {
		ch := NewChannel("Test/1", "t", "s", 1)
		ch.SetCallerID("1", "old")
		if err := ch.WriteFunction(context.Background(), "CALLERID(all)", c.in); err != nil {
			t.Fatal(err)
		}
		if num, name := ch.CallerID(); num != c.num || name != c.name {
			t.Errorf("CALLERID(all)=%s: name %q num %q, want %q %q", c.in, name, num, c.name, c.num)
		}
	}
}
