package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PLEIADES_CPUPROFILE=file: the server writes a CPU profile of its run (gzipped protobuf, as
// go tool pprof reads it) when it stops.
func TestCPUProfileFromTheEnvironment(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	t.Setenv("PLEIADES_CPUPROFILE", prof)
	nd := NewNode(t, "", nil)
	nd.Start()
	nd.MustRX("core show uptime")
	nd.RX("core stop now")
	if err := nd.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || !bytes.Equal(b[:2], []byte{0x1f, 0x8b}) {
		t.Fatalf("not a pprof profile (%d bytes)", len(b))
	}
}
