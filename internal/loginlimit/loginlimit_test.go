package loginlimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := &Limiter{Max: 3, Window: 10 * time.Second, Block: 30 * time.Second}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	t0 := time.Unix(1000, 0)
	if l.Failed(a, t0) || l.Failed(a, t0.Add(time.Second)) || l.Blocked(a, t0.Add(2*time.Second)) {
		t.Fatal("blocked too early")
	}
	if !l.Failed(a, t0.Add(2*time.Second)) {
		t.Fatal("third failure within the window does not block")
	}
	if !l.Blocked(a, t0.Add(31*time.Second)) || l.Blocked(a, t0.Add(33*time.Second)) {
		t.Error("block time")
	}
	if l.Blocked(b, t0.Add(3*time.Second)) {
		t.Error("another address is blocked")
	}
	// Failures spread over more than the window do not add up.
	for i := range 5 {
		if l.Failed(b, t0.Add(time.Duration(i)*11*time.Second)) {
			t.Fatalf("failure %d blocked", i)
		}
	}
	// A success forgets.
	l.Failed(b, t0.Add(60*time.Second))
	l.Failed(b, t0.Add(61*time.Second))
	l.Succeeded(b)
	if l.Failed(b, t0.Add(62*time.Second)) {
		t.Error("a success did not reset the count")
	}
}
