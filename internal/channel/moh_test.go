package channel

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/media"
)

// mohLog is a MusicOnHold that records what it is asked.
type mohLog struct {
	mu  sync.Mutex
	ops []string
}

func (m *mohLog) StartMOH(ch *Channel, class string) error {
	m.mu.Lock()
	m.ops = append(m.ops, "start "+ch.Name()+" "+class)
	m.mu.Unlock()
	return nil
}

func (m *mohLog) StopMOH(ch *Channel) {
	m.mu.Lock()
	m.ops = append(m.ops, "stop "+ch.Name())
	m.mu.Unlock()
}

func (m *mohLog) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.ops)
}

// TestBridgeHoldMusic: a bridge stops music playing on its channels when it starts; hold
// from one side starts music on the other (once, however many holds), unhold stops it, and
// the end of the bridge stops music still playing.
func TestBridgeHoldMusic(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.RTPStart, cfg.RTPEnd = 42200, 42300
	eng := media.NewEngine(cfg, nil)
	defer eng.Close()
	r := NewRegistry(nil)
	m := &mohLog{}
	r.SetMusicOnHold(m)
	if r.MusicOnHold() != m {
		t.Fatal("MusicOnHold() is not what SetMusicOnHold set")
	}
	a := r.New(Options{Name: "SIP/a-1", Tech: &fakeTech{sess: session(t, eng, udpPhone(t))}})
	b := r.New(Options{Name: "SIP/b-2", Tech: &fakeTech{sess: session(t, eng, udpPhone(t))}, Outgoing: true})
	defer a.Hangup(CauseNormalClearing)
	defer b.Hangup(CauseNormalClearing)
	a.SetMusicClass("jazz")
	if a.MusicClass() != "jazz" || b.MusicClass() != "" {
		t.Fatal("music class")
	}
	br := r.NewBridge(a, b)
	done := make(chan struct{})
	go func() {
		br.Run(context.Background())
		close(done)
	}()
	waitUntil(t, func() bool { return a.Bridge() == br })
	a.Queue(Frame{Kind: FrameHold})
	a.Queue(Frame{Kind: FrameHold})
	b.Queue(Frame{Kind: FrameHold})
	waitUntil(t, func() bool { return len(m.list()) == 4 })
	a.Queue(Frame{Kind: FrameUnhold})
	waitUntil(t, func() bool { return len(m.list()) == 5 })
	b.HungUp(CauseNormalClearing)
	<-done
	want := "stop SIP/a-1|stop SIP/b-2|start SIP/b-2 |start SIP/a-1 |stop SIP/b-2|stop SIP/a-1"
	if got := strings.Join(m.list(), "|"); got != want {
		t.Errorf("music on hold calls:\n%s\nwant\n%s", got, want)
	}
	r.SetMusicOnHold(nil)
	if r.MusicOnHold() != nil {
		t.Error("SetMusicOnHold(nil)")
	}
}
