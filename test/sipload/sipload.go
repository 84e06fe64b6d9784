// Package sipload is the answering side of a light SIP load generator: it answers NOTIFYs with
// 200 OK by copying their Via, From, To, Call-ID and CSeq lines instead of parsing them, and
// reads and writes 64 datagrams per system call (recvmmsg, sendmmsg). Benchmarks of the
// server's NOTIFY fan-out run it on the same CPUs as the server, so it must cost as little as
// possible; the server under test parses everything it receives with sipgo.
package sipload

import (
	"bytes"
	"net"
	"time"

	"golang.org/x/net/ipv4"
)

// Notify is one NOTIFY answered by Serve.
type Notify struct {
	CallID  string
	Version int // the dialog-info version, -1 when the body has none
	Size    int // bytes
}

const batch = 64

// Serve reads conn until it fails (closed), up to 64 datagrams at a time. It answers the
// NOTIFYs itself, with one sendmmsg per batch, and reports them with the time the batch was
// read; every other datagram goes to other.
func Serve(conn *net.UDPConn, notified func(at time.Time, ns []Notify), other func(b []byte, from *net.UDPAddr)) error {
	pc := ipv4.NewPacketConn(conn)
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65535)}
	}
	replies := make([]ipv4.Message, 0, batch)
	slab := make([]byte, 0, batch*1024)
	var got []Notify
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return err
		}
		now := time.Now()
		replies, slab, got = replies[:0], slab[:0], got[:0]
		for _, m := range msgs[:n] {
			b := m.Buffers[0][:m.N]
			from, _ := m.Addr.(*net.UDPAddr)
			if !bytes.HasPrefix(b, []byte("NOTIFY ")) {
				other(b, from)
				continue
			}
			start := len(slab)
			nt := Notify{Size: len(b)}
			slab, nt.CallID, nt.Version = AnswerNotify(slab, b)
			replies = append(replies, ipv4.Message{Buffers: [][]byte{slab[start:]}, Addr: from})
			got = append(got, nt)
		}
		if len(got) > 0 {
			notified(now, got)
		}
		for len(replies) > 0 {
			k, err := pc.WriteBatch(replies, 0)
			if err != nil {
				break
			}
			replies = replies[k:]
		}
	}
}

// AnswerNotify appends to dst a 200 OK for the NOTIFY b, made of its Via, From, To, Call-ID and
// CSeq lines (full or compact names), and returns the NOTIFY's Call-ID and dialog-info version
// (-1: none).
func AnswerNotify(dst, b []byte) ([]byte, string, int) {
	dst = append(dst, "SIP/2.0 200 OK\r\n"...)
	callID, version := "", -1
	head := b
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		head = b[:i+2]
	}
	for len(head) > 0 {
		i := bytes.Index(head, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := head[:i]
		head = head[i+2:]
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		switch name := string(bytes.ToLower(bytes.TrimSpace(line[:colon]))); name {
		case "via", "v", "from", "f", "to", "t", "cseq", "call-id", "i":
			dst = append(dst, line...)
			dst = append(dst, "\r\n"...)
			if name == "call-id" || name == "i" {
				callID = string(bytes.TrimSpace(line[colon+1:]))
			}
		}
	}
	dst = append(dst, "Content-Length: 0\r\n\r\n"...)
	const mark = `:dialog-info" version="`
	if i := bytes.Index(b, []byte(mark)); i >= 0 {
		v, digits := 0, 0
		for _, c := range b[i+len(mark):] {
			if c < '0' || c > '9' || digits == 9 {
				break
			}
			v, digits = v*10+int(c-'0'), digits+1
		}
		if digits > 0 {
			version = v
		}
	}
	return dst, callID, version
}
