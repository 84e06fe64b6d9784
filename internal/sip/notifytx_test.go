package sip

import (
	"net"
	"sync"
	"testing"
	"time"
)

func newTestNotifyTxs(t *testing.T) (*notifyTxs, *net.UDPConn, *[]int) {
	t.Helper()
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	var mu sync.Mutex
	removed := []int{}
	n := newNotifyTxs(srv, func(_ *subscription, status int) { mu.Lock(); removed = append(removed, status); mu.Unlock() })
	return n, peer, &removed
}

func TestNotifyRawAnswers(t *testing.T) {
	n, peer, removed := newTestNotifyTxs(t)
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	sub := &subscription{}
	for _, b := range []string{"z9hG4bK.ok", "z9hG4bK.gone", "z9hG4bK.compact", "z9hG4bK.prov"} {
		if err := n.send(b, []byte("NOTIFY sip:x SIP/2.0\r\n\r\n"), to, sub, false); err != nil {
			t.Fatal(err)
		}
	}
	resp := func(code, via, cseq string) []byte {
		return []byte("SIP/2.0 " + code + " X\r\n" + via + "\r\nCSeq: " + cseq + "\r\nContent-Length: 0\r\n\r\n")
	}
	for _, tc := range []struct {
		data []byte
		ours bool
	}{
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.ok;rport=5060", "5 NOTIFY"), true},
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.ok;rport=5060", "5 NOTIFY"), false}, // settled already
		{resp("481", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.gone", "6 NOTIFY"), true},
		{resp("200", "v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.compact", "7 NOTIFY"), true},
		{resp("100", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.prov", "8 NOTIFY"), true}, // provisional: still pending
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.other", "9 NOTIFY"), false},
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.prov", "1 OPTIONS"), false},
		{[]byte("NOTIFY sip:x SIP/2.0\r\n\r\n"), false},
		{[]byte("SIP/2.0 2x0 broken\r\n"), false},
	} {
		if got := n.rawAnswer(tc.data); got != tc.ours {
			t.Errorf("rawAnswer(%q) = %v, want %v", tc.data, got, tc.ours)
		}
	}
	if len(*removed) != 1 || (*removed)[0] != 481 {
		t.Fatalf("removed %v, want [481]", *removed)
	}
	n.mu.Lock()
	_, pending := n.m["z9hG4bK.prov"]
	n.mu.Unlock()
	if !pending {
		t.Fatal("a provisional response settled the NOTIFY")
	}
}

func TestNotifyRetransmitsUntilAnswered(t *testing.T) {
	n, peer, _ := newTestNotifyTxs(t)
	ctx := t.Context()
	go n.run(ctx)
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := n.sendBatch([]outMsg{{branch: "z9hG4bK.rt", raw: []byte("NOTIFY sip:x SIP/2.0\r\n\r\n"), addr: to, sub: &subscription{}}}); err != 0 {
		t.Fatalf("%d not written", err)
	}
	// The first copy, then Timer E: 500 ms and 1 s later.
	buf := make([]byte, 2048)
	start := time.Now()
	var at []time.Duration
	peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	for len(at) < 3 {
		if _, _, err := peer.ReadFrom(buf); err != nil {
			t.Fatalf("after %v: %v (got %d copies)", time.Since(start), err, len(at))
		}
		at = append(at, time.Since(start))
	}
	if at[1] < 400*time.Millisecond || at[2] < at[1]+800*time.Millisecond {
		t.Fatalf("retransmissions at %v, want about 0, 0.5 s, 1.5 s", at)
	}
	// Answered: no more copies.
	if !n.answer("z9hG4bK.rt", 200) {
		t.Fatal("answer not matched")
	}
	peer.SetReadDeadline(time.Now().Add(2200 * time.Millisecond))
	if _, _, err := peer.ReadFrom(buf); err == nil {
		t.Fatal("retransmitted after the answer")
	}
}
