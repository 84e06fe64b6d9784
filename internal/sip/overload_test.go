package sip

import (
	"bufio"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestNewRequestAndRawRefusal(t *testing.T) {
	reg := "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nv: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n" +
		"f: <sip:alice@x>;tag=1\r\nt: <sip:alice@x>\r\ni: abc@host\r\nCSeq: 7 REGISTER\r\nContact: <sip:alice@10.0.0.1>\r\nContent-Length: 0\r\n\r\n"
	for _, tc := range []struct {
		name string
		msg  string
		new  bool
	}{
		{"register", reg, true},
		{"invite out of dialog", "INVITE sip:200@x SIP/2.0\r\nTo: <sip:200@x>\r\n\r\n", true},
		{"re-invite", "INVITE sip:200@x SIP/2.0\r\nTo: <sip:200@x>;tag=99\r\n\r\n", false},
		{"options compact to tag", "OPTIONS sip:x SIP/2.0\r\nt: <sip:x>;TAG=9\r\n\r\n", false},
		{"bye", "BYE sip:x SIP/2.0\r\nTo: <sip:x>\r\n\r\n", false},
		{"response", "SIP/2.0 200 OK\r\nTo: <sip:x>\r\n\r\n", false},
		{"no to", "REGISTER sip:x SIP/2.0\r\nFrom: <sip:x>\r\n\r\n", false},
		{"garbage", "\x00\x01", false},
	} {
		if got := newRequest([]byte(tc.msg)); got != tc.new {
			t.Errorf("%s: newRequest %v, want %v", tc.name, got, tc.new)
		}
	}
	res := rawRefusal([]byte(reg), 5)
	m, err := sip.ParseMessage(res)
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	r := m.(*sip.Response)
	if r.StatusCode != 503 || r.CallID().Value() != "abc@host" || r.CSeq().SeqNo != 7 || len(r.GetHeaders("Via")) != 2 ||
		r.GetHeader("Retry-After").Value() != "5" || r.From() == nil || r.To() == nil {
		t.Fatalf("503:\n%s", res)
	}
	if b := topBranch([]byte(reg)); b != "z9hG4bK1" {
		t.Fatalf("top branch %q", b)
	}
	if b := topBranch([]byte("OPTIONS sip:x SIP/2.0\r\nv: SIP/2.0/UDP h;rport;BRANCH = z9hG4bKx , SIP/2.0/UDP g;branch=y\r\n\r\n")); b != "z9hG4bKx" {
		t.Fatalf("top branch of a compact, folded Via %q", b)
	}
	if rawRefusal([]byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:x>\r\nFrom: <sip:x>;tag=1\r\nCSeq: 1 REGISTER\r\n\r\n"), 5) != nil {
		t.Fatal("a 503 without Call-ID")
	}
}

func FuzzRawRefusal(f *testing.F) {
	f.Add([]byte("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\r\n"))
	f.Add([]byte("INVITE sip:x SIP/2.0\r\nt: <sip:x>\r\n\r\n"))
	f.Add([]byte(":\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		newRequest(data)
		topBranch(data)
		if res := rawRefusal(data, 1); res != nil && !strings.HasPrefix(string(res), "SIP/2.0 503 ") {
			t.Fatalf("%q", res)
		}
	})
}

// Past maxrequests in progress, a new REGISTER over UDP is answered 503 with Retry-After
// at once, over TCP too; a request inside a dialog is not refused; below the limit again,
// registrations go through. The counters reach "sip show settings" and Stats.
func TestOverloadRefusesNewRequests(t *testing.T) {
	e := newEnv(t, strings.Replace(baseConf, "[general]\n", "[general]\ntcpbindaddr=127.0.0.1:0\nmaxrequests=3\nretryafter=7\n", 1)+
		"[alice]\ntype=friend\nhost=dynamic\nsecret=pw\n", false)
	c := newRawClient(t, e.addr)
	e.s.ovl.inProgress.Store(3) // three requests being processed: the server is at its limit
	c.register("alice", "pw", "over1", 1, "")
	m, err := c.read(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.(*sip.Response); r.StatusCode != 503 || r.GetHeader("Retry-After").Value() != "7" || r.CallID().Value() != "over1" {
		t.Fatalf("UDP REGISTER at the limit: %s", m)
	}
	// a BYE inside a dialog is served (481: no such dialog), never refused
	bye := "BYE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + c.local + ";branch=z9hG4bKbye1\r\nMax-Forwards: 70\r\n" +
		"From: <sip:bob@127.0.0.1>;tag=a\r\nTo: <sip:alice@127.0.0.1>;tag=b\r\nCall-ID: nodialog\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
	c.conn.WriteToUDP([]byte(bye), c.srv)
	if m, err := c.read(2 * time.Second); err != nil || m.(*sip.Response).StatusCode != 481 {
		t.Fatalf("BYE at the limit: %v %v", m, err)
	}
	// TCP: checked at the handler
	_, tcpAddr := e.s.Addr()
	tc, err := net.Dial("tcp", tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.Write([]byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP " + tc.LocalAddr().String() + ";branch=z9hG4bKtcp1\r\nMax-Forwards: 70\r\n" +
		"From: <sip:x@127.0.0.1>;tag=t\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tcpover\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	tc.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 503 ") {
		t.Fatalf("TCP OPTIONS at the limit: %q %v", line, err)
	}
	if st := e.s.Stats(); st.Refused != 2 || st.InProgress != 3 {
		t.Fatalf("stats: refused %d, in progress %d", st.Refused, st.InProgress)
	}
	if out := e.cli("sip show settings"); !strings.Contains(out, "Overload:               503 (Retry-After 7) past 3 requests in progress; now 3, refused 2") {
		t.Fatalf("sip show settings:\n%s", out)
	}
	// the retransmission of a request in progress is not refused: it reaches sipgo
	e.s.ovl.branches.Store("z9hG4bKover31", struct{}{})
	if e.s.refusalFor(nil, []byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP "+c.local+";branch=z9hG4bKover31\r\nFrom: <sip:alice@x>;tag=1\r\nTo: <sip:alice@x>\r\n"+
		"Call-ID: over3\r\nCSeq: 1 REGISTER\r\n\r\n"), -1) != nil {
		t.Fatal("a retransmission of a request in progress was refused")
	}
	e.s.ovl.branches.Delete("z9hG4bKover31")
	e.s.ovl.inProgress.Store(0)
	c.register("alice", "pw", "over2", 1, "")
	if m, err := c.read(2 * time.Second); err != nil || m.(*sip.Response).StatusCode != 401 {
		t.Fatalf("below the limit: %v %v", m, err)
	}
}

// A new request that waited in the UDP socket's queue past maxrequestwait is refused 503 at
// once; one that waited less is served (here: the digest challenge).
func TestOverloadRefusesRequestsThatWaited(t *testing.T) {
	e := newEnv(t, strings.Replace(baseConf, "[general]\n", "[general]\nmaxrequestwait=50\nretryafter=4\n", 1)+
		"[alice]\ntype=friend\nhost=dynamic\nsecret=pw\n", false)
	c := newRawClient(t, e.addr)
	reg := func(callID string) []byte {
		return []byte("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + c.local + ";branch=z9hG4bK" + callID + "\r\nMax-Forwards: 70\r\n" +
			"From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: " + callID + "\r\nCSeq: 1 REGISTER\r\n" +
			"Contact: <sip:alice@" + c.local + ">\r\nContent-Length: 0\r\n\r\n")
	}
	// refusalFor is takeUDP's overload decision (what it sends belongs to the reading goroutine)
	res := e.s.refusalFor(nil, reg("waited80"), 80*time.Millisecond)
	if res == nil {
		t.Fatal("a REGISTER that waited 80 ms was not refused")
	}
	m, err := sip.ParseMessage(res)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.(*sip.Response); r.StatusCode != 503 || r.GetHeader("Retry-After").Value() != "4" || r.CallID().Value() != "waited80" {
		t.Fatalf("after 80 ms in the queue: %s", m)
	}
	if e.s.refusalFor(nil, reg("waited10"), 10*time.Millisecond) != nil || e.s.refusalFor(nil, reg("unknown"), -1) != nil {
		t.Fatal("a REGISTER that waited 10 ms (or an unknown time) was refused")
	}
	c.conn.WriteToUDP(reg("sent"), c.srv)
	m, err = c.read(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.(*sip.Response); r.StatusCode != 401 || r.CallID().Value() != "sent" {
		t.Fatalf("a REGISTER through the socket: %s", m)
	}
	if st := e.s.Stats(); st.Refused != 1 {
		t.Fatalf("refused %d", st.Refused)
	}
}

// The kernel's arrival stamp of a datagram is read through recvmmsg's control messages.
func TestBatchConnReadsArrivalStamps(t *testing.T) {
	if rxStampOOBLen == 0 {
		t.Skip("arrival stamps are read on 64-bit Linux only")
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got []time.Duration
	bc := newBatchConn(conn, 1000, func(data []byte, from net.Addr, waited time.Duration) bool {
		got = append(got, waited)
		return string(data) == "first"
	}, nil)
	if !bc.stamps {
		t.Fatal("SO_TIMESTAMPNS refused")
	}
	out, err := net.Dial("udp", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	out.Write([]byte("first"))
	time.Sleep(30 * time.Millisecond)
	out.Write([]byte("second"))
	buf := make([]byte, 100)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := bc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "second" {
		t.Fatalf("%q %v", buf[:n], err)
	}
	if len(got) != 2 {
		t.Fatalf("take saw %d datagrams", len(got))
	}
	for _, w := range got {
		if w < 0 || w > 5*time.Second {
			t.Fatalf("waited %v", got)
		}
	}
}

// A socket whose receive queue is more than half full makes every datagram of the full batch
// read "behind" (queueHalfFull), however short its own wait: the kernel drops what arrives at a
// full queue, so the server must shed before the queue fills, not after. A batch read from a
// queue under half full reads the datagrams' own waits.
func TestBatchConnSeesAHalfFullQueue(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the queue's fill is read on Linux only")
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.UDPConn).SetReadBuffer(64 << 10)
	var waits []time.Duration
	bc := newBatchConn(conn, 1000, func(data []byte, from net.Addr, waited time.Duration) bool {
		waits = append(waits, waited)
		return string(data) != "last"
	}, nil)
	out, err := net.Dial("udp", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// Fill the queue until the kernel drops (64 KB: a few dozen small datagrams, each
	// charged its buffer's true size), then read.
	queued, limit, _, ok := bc.queue.fill()
	if !ok {
		t.Fatal("SO_MEMINFO refused")
	}
	for i := 0; queued <= limit/2+limit/4 && i < 10000; i++ {
		out.Write([]byte("REGISTER sip:x SIP/2.0\r\n\r\n"))
		queued, limit, _, _ = bc.queue.fill()
	}
	if queued <= limit/2 {
		t.Fatalf("queue %d of %d", queued, limit)
	}
	out.Write([]byte("last"))
	buf := make([]byte, 100)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := bc.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	if len(waits) < readBatch {
		t.Fatalf("take saw %d datagrams", len(waits))
	}
	for i, w := range waits[:readBatch] {
		if w != queueHalfFull {
			t.Fatalf("datagram %d of the first batch, queue %d of %d: waited %v, want queueHalfFull", i, queued, limit, w)
		}
	}
	// The last batches come from a queue under half full: their own waits.
	if w := waits[len(waits)-1]; w == queueHalfFull {
		t.Fatalf("the last datagram, read from a near-empty queue: waited %v", w)
	}
}
