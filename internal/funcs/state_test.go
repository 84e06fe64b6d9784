package funcs

import (
	"testing"
)

func TestSplitExten(t *testing.T) {
	for in, want := range map[string][2]string{
		"1234@devstate_test": {"1234", "devstate_test"},
		"1234":               {"1234", "default"},
		" 5@x ":              {"5", "x"},
	} {
		if x, c := splitExten(in); x != want[0] || c != want[1] {
			t.Errorf("splitExten(%q) = %q, %q", in, x, c)
		}
	}
}
