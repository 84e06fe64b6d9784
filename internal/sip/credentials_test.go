package sip

import (
	"reflect"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// parseCredentials is the library's ParseCredentials, faster: the same result for every input.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		`Digest username="alice", realm="pleiades", nonce="abc", uri="sip:127.0.0.1", response="0123", algorithm=MD5, qop=auth, nc=00000001, cnonce="b1"`,
		`digest username="a\"b\\c",realm="r" , nc=ff, userhash=TRUE, opaque="o"`,
		"Digest username=\"\xff\xfe\", realm=\"x\"",
		`Digest username="unterminated`,
		`Digest a=b,`,
		`Digest =x, y=`,
		`Digest nc=zz`,
		`Digest Username="upper", uri=sip:x`,
		`Basic abc`,
		`Digest `,
		`Digest  username = "sp" ,  realm = r `,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := digest.ParseCredentials(s)
		got, gerr := parseCredentials(s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: library error %v, ours %v", s, werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("%q:\nlibrary %+v\nours    %+v", s, want, got)
		}
	})
}

func BenchmarkParseCredentials(b *testing.B) {
	h := `Digest username="alice", realm="pleiades", nonce="AAABkMvXyZ0aBcDeFgHiJkLmNoPqRsTu", uri="sip:127.0.0.1:5060", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="b1"`
	b.Run("library", func(b *testing.B) {
		for b.Loop() {
			_, _ = digest.ParseCredentials(h)
		}
	})
	b.Run("pleiades", func(b *testing.B) {
		for b.Loop() {
			_, _ = parseCredentials(h)
		}
	})
}

// A challenge's nonce, issued then checked (both HMAC it).
func BenchmarkNonceIssueAndCheck(b *testing.B) {
	n := newNonceStore(1 << 20)
	now := time.Now()
	for b.Loop() {
		if _, ours, _ := n.check(n.issue(now), now, time.Minute); !ours {
			b.Fatal("not ours")
		}
	}
}
