package curl_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/realtime/curl"
)

// FuzzParsePairs: any answer parses without panicking, and a row that parses comes back the
// same after encoding it again.
func FuzzParsePairs(f *testing.F) {
	for _, s := range []string{"name=bob&secret=x%3By", "a=&b=1", "<html>", "name=%zz", "k=v+w&&x=%41", "#include=x.conf", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		row, err := curl.ParsePairs(s)
		if err != nil {
			return
		}
		var b strings.Builder
		curl.EncodeFields(&b, row)
		again, err := curl.ParsePairs(b.String())
		if err != nil || !slices.Equal(row, again) {
			t.Fatalf("%q: %v, re-encoded %q: %v, %v", s, row, b.String(), again, err)
		}
	})
}
