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

// A full nonce table drops its older generation early instead of refusing the registration;
// the nonces whose counts it may have held read as stale from then on, so none of them can be
// replayed as a first use, and the younger generation's nonces still refuse a replay.
func TestNonceTableFullRotatesEarly(t *testing.T) {
	const lifetime = 50 * time.Millisecond
	n := newNonceStore(4)
	first := func(nonce string) [16]byte {
		t.Helper()
		id, ours, stale := n.check(nonce, time.Now(), time.Minute)
		if !ours || stale {
			t.Fatalf("nonce: ours %v stale %v", ours, stale)
		}
		if !n.use(id, 1, true, 7) {
			t.Fatal("first use refused")
		}
		return id
	}
	a := n.issue(time.Now())
	first(a)
	first(n.issue(time.Now()))
	time.Sleep(lifetime + 10*time.Millisecond)
	n.rotate(time.Now(), lifetime) // a, b: the older generation
	time.Sleep(5 * time.Millisecond)
	c := n.issue(time.Now())
	cid := first(c)
	first(n.issue(time.Now()))
	// the table holds 4: the fifth first use rotates early instead of being refused
	first(n.issue(time.Now()))
	if got := n.len(); got != 3 {
		t.Fatalf("%d tracked after the early rotation, want 3 (c, d, e)", got)
	}
	if _, _, stale := n.check(a, time.Now(), time.Minute); !stale {
		t.Fatal("a nonce of the dropped generation is not stale")
	}
	if _, _, stale := n.check(c, time.Now(), time.Minute); stale {
		t.Fatal("a nonce of the kept generation is stale")
	}
	if n.use(cid, 1, true, 8) {
		t.Fatal("a replay of a kept nonce's count was accepted")
	}
}
