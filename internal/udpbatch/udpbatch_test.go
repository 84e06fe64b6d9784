package udpbatch

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// Messages written in one batch through a duplicated descriptor arrive from the socket's own
// address, and a batch read returns them; closing every descriptor frees the port.
func TestDupWritesFromTheSameSocket(t *testing.T) {
	src, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	dups := Dup(src, 2)
	if len(dups) != 2 {
		t.Fatalf("%d descriptors", len(dups))
	}
	w := For(dups[1])
	out := make([]ipv4.Message, 5)
	for i := range out {
		out[i] = ipv4.Message{Buffers: [][]byte{{byte('a' + i)}}, Addr: dst.LocalAddr()}
	}
	if n, err := w.WriteBatch(out, 0); err != nil || n != len(out) {
		t.Fatalf("wrote %d: %v", n, err)
	}
	in := make([]ipv4.Message, 8)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 16)}
	}
	dst.SetReadDeadline(time.Now().Add(2 * time.Second))
	got := 0
	for got < len(out) {
		n, err := For(dst).ReadBatch(in, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range in[:n] {
			if m.Addr.String() != src.LocalAddr().String() || m.N != 1 || m.Buffers[0][0] != byte('a'+got) {
				t.Fatalf("message %d: %q from %v", got, m.Buffers[0][:m.N], m.Addr)
			}
			got++
		}
	}
	addr := src.LocalAddr().String()
	src.Close()
	for _, d := range dups {
		d.Close()
	}
	again, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("port still bound: %v", err)
	}
	again.Close()
}

type notUDP struct{ net.PacketConn }

func (notUDP) LocalAddr() net.Addr { return &net.UnixAddr{Name: "x", Net: "unixgram"} }

func TestForNonUDP(t *testing.T) {
	if For(notUDP{}) != nil {
		t.Fatal("a batch view of a socket that is not UDP")
	}
}
