package sip

import (
	"net"
	"strconv"
	"strings"
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
	t.Cleanup(n.close)
	return n, peer, &removed
}

func TestNotifyRawAnswers(t *testing.T) {
	n, peer, removed := newTestNotifyTxs(t)
	to := peer.LocalAddr().(*net.UDPAddr)
	sub := &subscription{}
	seqs := map[string]uint64{}
	for _, name := range []string{"ok", "gone", "compact", "prov"} {
		seqs[name] = nextBranchSeq()
		if err := n.send(seqs[name], []byte("NOTIFY sip:x SIP/2.0\r\n\r\n"), to, sub, false); err != nil {
			t.Fatal(err)
		}
	}
	br := func(name string) string { return string(appendBranch(nil, seqs[name])) }
	resp := func(code, via, cseq string) []byte {
		return []byte("SIP/2.0 " + code + " X\r\n" + via + "\r\nCSeq: " + cseq + "\r\nContent-Length: 0\r\n\r\n")
	}
	for _, tc := range []struct {
		data []byte
		ours bool
	}{
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch="+br("ok")+";rport=5060", "5 NOTIFY"), true},
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch="+br("ok")+";rport=5060", "5 NOTIFY"), false}, // settled already
		{resp("481", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch="+br("gone"), "6 NOTIFY"), true},
		{resp("200", "v: SIP/2.0/UDP 127.0.0.1:5060;branch="+br("compact"), "7 NOTIFY"), true},
		{resp("100", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch="+br("prov"), "8 NOTIFY"), true}, // provisional: still pending
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.other", "9 NOTIFY"), false},
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch="+br("prov")+"x", "9 NOTIFY"), false},
		{resp("200", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch="+br("prov"), "1 OPTIONS"), false},
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
	if !n.pending(seqs["prov"]) {
		t.Fatal("a provisional response settled the NOTIFY")
	}
}

func TestBranchNumbers(t *testing.T) {
	for _, seq := range []uint64{0, 1, 35, 36, 1 << 40, 1<<64 - 1} {
		b := appendBranch(nil, seq)
		if !strings.HasPrefix(string(b), "z9hG4bK") {
			t.Errorf("branch %q lacks the magic cookie", b)
		}
		if got, ok := parseBranch(b); !ok || got != seq {
			t.Errorf("parseBranch(%q) = %d, %v; want %d", b, got, ok, seq)
		}
	}
	for _, b := range []string{"", "z9hG4bK", branchPrefix, branchPrefix + "A1", branchPrefix + "1-2",
		branchPrefix + "zzzzzzzzzzzzzz", branchPrefix + "3w5e11264sgsg", "z9hG4bKother.12"} {
		if seq, ok := parseBranch([]byte(b)); ok {
			t.Errorf("parseBranch(%q) = %d, want not ours", b, seq)
		}
	}
}

func TestNotifyRetransmitsUntilAnswered(t *testing.T) {
	n, peer, _ := newTestNotifyTxs(t)
	ctx := t.Context()
	go n.run(ctx)
	to := peer.LocalAddr().(*net.UDPAddr)
	seq := nextBranchSeq()
	b := newNotifyBatch()
	b.msgs = append(b.msgs, outMsg{seq: seq, raw: []byte("NOTIFY sip:x SIP/2.0\r\n\r\n"), to: to, sub: &subscription{}})
	if failed := n.flush(b); failed != 0 {
		t.Fatalf("%d not written", failed)
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
	if !n.answer(seq, 200) {
		t.Fatal("answer not matched")
	}
	peer.SetReadDeadline(time.Now().Add(2200 * time.Millisecond))
	if _, _, err := peer.ReadFrom(buf); err == nil {
		t.Fatal("retransmitted after the answer")
	}
}

// A block of NOTIFY texts goes back to the pool only when all its NOTIFYs are settled: one
// left unanswered keeps its text intact however many batches come and go after it.
func TestNotifyBlockOutlivesAnsweredNeighbours(t *testing.T) {
	n, peer, _ := newTestNotifyTxs(t)
	to := peer.LocalAddr().(*net.UDPAddr)
	batch := func(text func(i int) string) []uint64 {
		b := newNotifyBatch()
		var seqs []uint64
		for i := 0; i < batchSize; i++ {
			seq := nextBranchSeq()
			raw := append(b.buffer(64), text(i)...)
			b.msgs = append(b.msgs, outMsg{seq: seq, raw: b.commit(raw), to: to, sub: &subscription{}})
			seqs = append(seqs, seq)
		}
		if failed := n.flush(b); failed != 0 {
			t.Fatalf("%d not written", failed)
		}
		return seqs
	}
	first := batch(func(i int) string { return "NOTIFY " + strconv.Itoa(i) })
	for _, seq := range first[1:] {
		if !n.answer(seq, 200) {
			t.Fatal("answer not matched")
		}
	}
	for range 50 {
		for _, seq := range batch(func(int) string { return "XXXXXXXXXXXXXXXXXXXXXXXX" }) {
			n.answer(seq, 200)
		}
	}
	sh := n.shard(first[0])
	sh.mu.Lock()
	raw := string(sh.m[first[0]].raw)
	sh.mu.Unlock()
	if raw != "NOTIFY 0" {
		t.Fatalf("pending NOTIFY's text is now %q", raw)
	}
	// A text that does not fit the slab is allocated alone and still sent whole.
	b := newNotifyBatch()
	big := append(b.buffer(slabSize+1), strings.Repeat("y", slabSize+1)...)
	seq := nextBranchSeq()
	b.msgs = append(b.msgs, outMsg{seq: seq, raw: b.commit(big), to: to, sub: &subscription{}})
	if failed := n.flush(b); failed != 1 && failed != 0 {
		t.Fatalf("flush: %d", failed)
	}
	if len(b.msgs) != 0 || !n.pending(seq) {
		t.Fatal("oversized text not tracked")
	}
}

// The fan-out's extra descriptors of the socket write from the socket's own address, and once
// closed with it they leave the port free again (a restart binds it anew).
func TestNotifyWritersShareTheSocket(t *testing.T) {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.LocalAddr().String()
	n := newNotifyTxs(srv, func(*subscription, int) {})
	if len(n.writers) == 0 {
		t.Fatal("no extra descriptor")
	}
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	for w := range len(n.writers) + 1 {
		b := newNotifyBatch()
		b.w = n.writer(w)
		b.msgs = append(b.msgs, outMsg{seq: nextBranchSeq(), raw: []byte("NOTIFY " + strconv.Itoa(w)), to: peer.LocalAddr().(*net.UDPAddr), sub: &subscription{}})
		if failed := n.flush(b); failed != 0 {
			t.Fatalf("writer %d: %d not written", w, failed)
		}
		buf := make([]byte, 100)
		peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, from, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from.String() != addr || string(buf[:k]) != "NOTIFY "+strconv.Itoa(w) {
			t.Fatalf("writer %d: %q from %s, want from %s", w, buf[:k], from, addr)
		}
	}
	srv.Close()
	n.close()
	again, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("port still bound after close: %v", err)
	}
	again.Close()
}
