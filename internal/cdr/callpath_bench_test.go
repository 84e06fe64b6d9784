package cdr

import (
	"context"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

// nopTech is a far end that answers at once and does nothing else.
type nopTech struct{}

func (nopTech) Call(context.Context) error          { return nil }
func (nopTech) Answer(context.Context) error        { return nil }
func (nopTech) Indicate(channel.Condition) error    { return nil }
func (nopTech) SendDigit(rune, time.Duration) error { return nil }
func (nopTech) Media() *media.Session               { return nil }
func (nopTech) Hangup(channel.Cause)                {}

// benchCalls runs b.N in-process calls (Answer, Set(CDR(userfield)), Hangup) through the
// dialplan; with withCDR the CDR engine follows them and posts every record to a backend
// that keeps nothing. The difference between the two is what CDRs cost the call's own
// goroutine (issue 19: the call path unaffected).
func benchCalls(b *testing.B, withCDR bool) {
	dp := dialplan.New(nil, nil)
	defer dp.Close()
	cfg, err := conf.Parse("extensions.conf", []byte("[c]\nexten => 1,1,Answer()\n same => n,Set(CDR(userfield)=bench)\n same => n,Hangup()\n"), conf.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := dp.Load(cfg); err != nil {
		b.Fatal(err)
	}
	reg := channel.NewRegistry(nil)
	dp.SetChannels(reg)
	e := New(nil, DefaultSettings())
	if withCDR {
		e.Attach(reg)
		if err := e.AddBackend(discard{}, ""); err != nil {
			b.Fatal(err)
		}
		defer e.Close(context.Background())
	}
	Register(dp, e)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		leg := reg.New(channel.Options{Name: reg.NewName("SIP", "alice"), Tech: nopTech{}, Device: "SIP/alice",
			CallerNum: "100", CallerName: "Alice", Context: "c", Exten: "1"})
		dp.RunChannel(context.Background(), leg)
	}
}

type discard struct{}

func (discard) Name() string                           { return "discard" }
func (discard) Write(context.Context, []*Record) error { return nil }

func BenchmarkCallWithoutCDR(b *testing.B) { benchCalls(b, false) }
func BenchmarkCallWithCDR(b *testing.B)    { benchCalls(b, true) }
