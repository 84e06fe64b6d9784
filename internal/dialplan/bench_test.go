package dialplan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// The benchmark dialplan: 1,000 contexts holding 100,000 extensions. 990 tenant contexts
// t0..t989 each have 100 plain extensions (1000..1099, two priorities each) and include two
// of the ten shared contexts s0..s9; each shared context holds 100 patterns (1,000 patterns
// in all, of mixed shapes and first characters) and 1 plain extension.
const (
	benchTenants  = 990
	benchShared   = 10
	benchPerCtx   = 100
	benchPatterns = 100
)

var benchText = sync.OnceValue(func() []byte {
	var sb strings.Builder
	sb.WriteString("[general]\nstatic=yes\n[globals]\nTRUNK=SIP/trunk\n")
	shapes := []string{"_%d%02dXXXX", "_%d%02dNXX.", "_%d[1-4]%02dZ!", "_X%d%02dX"}
	for s := range benchShared {
		fmt.Fprintf(&sb, "[s%d]\nexten => 9999,1,NoOp(shared)\n", s)
		for p := range benchPatterns {
			shape := shapes[p%len(shapes)]
			fmt.Fprintf(&sb, "exten => "+shape+",1,NoOp(${EXTEN})\n same => n,Hangup()\n", (p/4+s)%10, p)
		}
	}
	for t := range benchTenants {
		fmt.Fprintf(&sb, "[t%d]\ninclude => s%d\ninclude => s%d\n", t, t%benchShared, (t+3)%benchShared)
		for x := range benchPerCtx - 1 {
			fmt.Fprintf(&sb, "exten => %d,1,NoOp(t%d %d)\n same => n,Hangup()\n", 1000+x, t, x)
		}
		fmt.Fprintf(&sb, "exten => 1234,hint,SIP/t%d\n", t)
	}
	return []byte(sb.String())
})

func benchEngine(b *testing.B) *Engine {
	b.Helper()
	cfg, err := conf.Parse("extensions.conf", benchText(), conf.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := New(nil, nil)
	b.Cleanup(e.Close)
	if err := e.Load(cfg); err != nil {
		b.Fatal(err)
	}
	_, n, _ := e.Dialplan().Counts()
	if n < 100000 {
		b.Fatalf("only %d extensions", n)
	}
	return e
}

type benchLookup struct {
	name, context, exten string
	prio                 int
	found                bool
}

var benchLookups = []benchLookup{
	{"exact", "t500", "1050", 2, true},
	{"pattern-via-include", "t500", "3121234", 1, true},
	{"plain-via-include", "t500", "9999", 1, true},
	{"miss", "t500", "77", 1, false},
}

func BenchmarkLookup(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	for _, l := range benchLookups {
		if got := e.Exists(ctx, l.context, l.exten, l.prio, ""); got != l.found {
			b.Fatalf("%s: Exists = %v", l.name, got)
		}
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Exists(ctx, l.context, l.exten, l.prio, "")
			}
			// The median of single lookups, for the ≤ 2 µs goal.
			const n = 20000
			ds := make([]time.Duration, n)
			for i := range ds {
				t0 := time.Now()
				e.Exists(ctx, l.context, l.exten, l.prio, "")
				ds[i] = time.Since(t0)
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[n/2].Nanoseconds()), "median-ns")
		})
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l := benchLookups[i%len(benchLookups)]
			e.Exists(ctx, l.context, l.exten, l.prio, "")
			i++
		}
	})
}

// BenchmarkLoad measures reading, parsing, building and installing the generated
// 100k-extension file (conf.Load + Engine.Load), and
// reports the memory the built dialplan holds per extension.
func BenchmarkLoad(b *testing.B) {
	text := benchText()
	path := filepath.Join(b.TempDir(), "extensions.conf")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	e := New(nil, nil)
	defer e.Close()
	for b.Loop() {
		cfg, err := conf.Load(path, conf.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Load(cfg); err != nil {
			b.Fatal(err)
		}
		if len(e.Dialplan().order) != benchTenants+benchShared {
			b.Fatal("contexts missing")
		}
	}
	b.StopTimer()
	cfg, _ := conf.Parse("extensions.conf", text, conf.Options{})
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	dp, _ := Build(cfg, nil)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	_, n, _ := dp.Counts()
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(n), "bytes/extension")
	runtime.KeepAlive(dp)
	runtime.KeepAlive(cfg)
}

// BenchmarkBuild is BenchmarkLoad without conf.Parse: the dialplan's own share.
func BenchmarkBuild(b *testing.B) {
	cfg, err := conf.Parse("extensions.conf", benchText(), conf.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Build(cfg, nil)
	}
}

func BenchmarkRunPriority(b *testing.B) {
	e := benchEngine(b)
	if err := e.Load(mustParse(b, "[c]\nexten => s,1,Set(I=$[${I} + 1])\n same => n,GotoIf($[${I} < 1000]?1)\n")); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		ch := NewChannel("Bench/1", "c", "s", 1)
		e.Run(ctx, ch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2000, "ns/priority")
}
