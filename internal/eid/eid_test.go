package eid

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"00:11:22:aa:bb:cc":   "00:11:22:aa:bb:cc",
		"00-11-22-AA-BB-CC":   "00:11:22:aa:bb:cc",
		" 02:00:00:00:00:01 ": "02:00:00:00:00:01",
	} {
		e, err := Parse(in)
		if err != nil || e.String() != want {
			t.Errorf("Parse(%q) = %v, %v", in, e, err)
		}
	}
	for _, bad := range []string{"", "00:00:00:00:00:00", "00:11:22", "00:11:22:33:44:55:66", "0:11:22:33:44:55", "gg:11:22:33:44:55", "001122334455"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
