package dialplan

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// Record writes the caller's audio as a WAV until '#', sets RECORD_STATUS and RECORDED_FILE,
// and numbers a "%d" name with the first free number.
func TestRecordApp(t *testing.T) {
	dir := t.TempDir()
	env := newLegEnv(t, `[c]
exten => 1,1,Record(`+dir+`/rec%d.wav,0,0,q)
 same => n,Set(GLOBAL(S)=${RECORD_STATUS})
 same => n,Set(GLOBAL(F)=${RECORDED_FILE})
exten => 2,1,Record(`+dir+`/x.gsm)
 same => n,Set(GLOBAL(E)=${RECORD_STATUS})
exten => 3,1,Record(`+dir+`/short.wav,0,1,q)
 same => n,Set(GLOBAL(T)=${RECORD_STATUS})
`, true)
	os.WriteFile(filepath.Join(dir, "rec0.wav"), nil, 0o644) // taken: the recording is rec1
	leg, tech, done := env.call(t, "c", "1", nil)
	waitFor(t, "Record", func() bool { return leg.Snapshot().Application == "Record" })
	time.Sleep(50 * time.Millisecond)
	tech.Phone.Send(25, 2*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	tech.Phone.SendDigit('#')
	waitDone(t, done)
	if s, _ := env.e.Global("S"); s != "DTMF" {
		t.Fatalf("RECORD_STATUS %q", s)
	}
	if f, _ := env.e.Global("F"); f != filepath.Join(dir, "rec1") {
		t.Fatalf("RECORDED_FILE %q", f)
	}
	b, err := os.ReadFile(filepath.Join(dir, "rec1.wav"))
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := sound.ParseWAV(b)
	if err != nil || len(pcm) != 2*25*160 {
		t.Fatalf("%d samples, want 4000: %v", len(pcm)/2, err)
	}

	_, _, done = env.call(t, "c", "2", nil)
	waitDone(t, done)
	if e, _ := env.e.Global("E"); e != "ERROR" {
		t.Fatalf("a format Pleiades does not write: %q", e)
	}

	// maxduration 1 s: the phone sends nothing, the time runs out.
	_, _, done = env.call(t, "c", "3", nil)
	waitDone(t, done)
	if s, _ := env.e.Global("T"); s != "TIMEOUT" {
		t.Fatalf("RECORD_STATUS after maxduration: %q", s)
	}
}
