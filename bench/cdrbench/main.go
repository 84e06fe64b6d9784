// Command cdrbench measures call records to PostgreSQL with the call path as issue 19's
// performance goal states it: calls run the dialplan (Answer, Set(CDR(userfield)), Hangup)
// on channel legs at a fixed rate in this process, on two dialplans side by side: one
// without CDRs, one with the CDR engine posting every record through cdr_pgsql's spooled
// queue into a scratch cdr table. The two take turns, -rounds times each, so load from
// other programs on the machine falls on both alike; the run reports each one's call
// latency (leg created → hung up, p50/p99 over all its rounds) and the records/s
// PostgreSQL took (time until the queue is empty), and the process's CPU time (user +
// system, getrusage) per call in each of the two: their difference is what a record costs
// in CPU from the call to the backends, wherever it is spent (the engine's goroutine, the
// queues' spool files, the backends). -backend all gives the records the backends a
// server with cdr_pgsql.conf has by default: Master.csv, cdr_pgsql and the embedded
// SQLite master.db, the two databases behind spooled queues.
//
// Usage: go run ./bench/cdrbench -rate 1000 -calls 20000 [-rounds 5] [-backend pgsql|all|none] [-dsn postgres://postgres@127.0.0.1:5432/test]
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pleiades-pbx/pleiades/internal/cdr"
	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/pgtable"
)

var (
	rate    = flag.Int("rate", 1000, "calls started per second")
	calls   = flag.Int("calls", 20000, "calls with CDRs and as many without")
	rounds  = flag.Int("rounds", 5, "turns each of the two takes")
	target  = flag.String("backend", "pgsql", "where records go: pgsql; all (Master.csv, pgsql and SQLite, as a server); none (the CDR engine alone)")
	cpuprof = flag.String("cpuprofile", "", "write a CPU profile of the calls with CDRs (and their backends) to this file")
	dsn     = flag.String("dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL for the scratch cdr table")
)

// tech is a far end that does nothing (answers at once).
type tech struct{}

func (tech) Call(context.Context) error          { return nil }
func (tech) Answer(context.Context) error        { return nil }
func (tech) Indicate(channel.Condition) error    { return nil }
func (tech) SendDigit(rune, time.Duration) error { return nil }
func (tech) Media() *media.Session               { return nil }
func (tech) Hangup(channel.Cause)                {}

func main() {
	flag.Parse()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cdrbench:", err)
		os.Exit(1)
	}
	defer admin.Close(ctx)
	schema := "cdrbench_" + strconv.Itoa(rand.IntN(1e9))
	must(admin.Exec(ctx, "CREATE SCHEMA "+schema))
	defer admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	must(admin.Exec(ctx, `CREATE TABLE `+schema+`.cdr (accountcode VARCHAR(80), src VARCHAR(80), dst VARCHAR(80),
		dcontext VARCHAR(80), clid VARCHAR(80), channel VARCHAR(80), dstchannel VARCHAR(80), lastapp VARCHAR(80),
		lastdata VARCHAR(80), start TIMESTAMP, answer TIMESTAMP, "end" TIMESTAMP, duration INTEGER, billsec INTEGER,
		disposition VARCHAR(45), amaflags VARCHAR(45), userfield VARCHAR(256), uniqueid VARCHAR(150),
		linkedid VARCHAR(150), peeraccount VARCHAR(80), sequence INTEGER)`))

	plain, plainReg := newDialplan()
	defer plain.Close()
	dp, reg := newDialplan()
	defer dp.Close()
	e := cdr.New(nil, cdr.DefaultSettings())
	e.Attach(reg)
	cdr.Register(dp, e)
	dir, _ := os.MkdirTemp("", "cdrbench")
	defer os.RemoveAll(dir)
	pg := cdr.NewPgSQL(pgtable.Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".cdr"})
	spoolPath := filepath.Join(dir, "pgsql.queue")
	if os.Getenv("CDRBENCH_NOSPOOL") != "" {
		spoolPath = ""
	}
	switch *target {
	case "pgsql":
		if err := e.AddBackend(pg, spoolPath); err != nil {
			panic(err)
		}
	case "all":
		if err := e.AddBackend(&cdr.CSV{Dir: filepath.Join(dir, "cdr-csv"), Set: cdr.CSVSettings{AccountLogs: true}}, ""); err != nil {
			panic(err)
		}
		if err := e.AddBackend(pg, spoolPath); err != nil {
			panic(err)
		}
		if err := e.AddBackend(&cdr.SQLite{Path: filepath.Join(dir, "master.db")}, filepath.Join(dir, "sqlite3.queue")); err != nil {
			panic(err)
		}
	}
	var base, with []time.Duration
	var cpuBase, cpuWith time.Duration
	start := time.Now()
	var busy time.Duration // time spent on calls with CDRs (the other turns give PostgreSQL time too)
	per := *calls / *rounds
	for range *rounds {
		c0 := cpuTime()
		base = append(base, run(plain, plainReg, per)...)
		time.Sleep(200 * time.Millisecond) // the same pause as after the calls with CDRs
		c1 := cpuTime()
		if *cpuprof != "" {
			f, err := os.Create(*cpuprof + "." + strconv.Itoa(len(with)/per))
			if err != nil {
				panic(err)
			}
			pprof.StartCPUProfile(f)
		}
		t0 := time.Now()
		with = append(with, run(dp, reg, per)...)
		busy += time.Since(t0)
		time.Sleep(200 * time.Millisecond) // the backends' last batch (50 ms linger) is written
		if *cpuprof != "" {
			pprof.StopCPUProfile()
		}
		cpuBase, cpuWith = cpuBase+c1-c0, cpuWith+cpuTime()-c1
	}
	report("without CDR", base, cpuBase)
	report("with CDR to "+*target, with, cpuWith)
	fmt.Printf("CPU per record: %.1f us (with minus without, per call)\n", float64(cpuWith-cpuBase)/float64(len(with))/1e3)
	if err := e.Flush(ctx); err != nil {
		panic(err)
	}
	el := time.Since(start)
	var n int
	admin.QueryRow(ctx, "SELECT count(*) FROM "+schema+".cdr").Scan(&n)
	fmt.Printf("PostgreSQL: %d records, all written %.2fs after the first call (calls with CDRs ran %.2fs at %d/s)\n", n, el.Seconds(), busy.Seconds(), *rate)
	p50b, p50w := pct(base, 50), pct(with, 50)
	p99b, p99w := pct(base, 99), pct(with, 99)
	fmt.Printf("call latency p50 %v -> %v (%+.1f%%), p99 %v -> %v (%+.1f%%)\n", p50b, p50w, 100*(float64(p50w)/float64(p50b)-1),
		p99b, p99w, 100*(float64(p99w)/float64(p99b)-1))
	e.Close(ctx)
}

// newDialplan returns a dialplan running the bench's extension on its own channels.
func newDialplan() (*dialplan.Engine, *channel.Registry) {
	dp := dialplan.New(nil, nil)
	cfg, err := conf.Parse("extensions.conf", []byte("[c]\nexten => 1,1,Answer()\n same => n,Set(CDR(userfield)=bench)\n same => n,Hangup()\n"), conf.Options{})
	if err != nil {
		panic(err)
	}
	if err := dp.Load(cfg); err != nil {
		panic(err)
	}
	reg := channel.NewRegistry(nil)
	dp.SetChannels(reg)
	return dp, reg
}

func must(_ any, err error) {
	if err != nil {
		panic(err)
	}
}

// run starts n calls at *rate/s and returns each call's latency.
func run(dp *dialplan.Engine, reg *channel.Registry, n int) []time.Duration {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	gap := time.Second / time.Duration(*rate)
	next := time.Now()
	for i := range n {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(gap)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			leg := reg.New(channel.Options{Name: reg.NewName("SIP", "alice"), Tech: tech{}, Device: "SIP/alice",
				CallerNum: "100", CallerName: "Alice", Context: "c", Exten: "1"})
			dp.RunChannel(context.Background(), leg)
			lat[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	return lat
}

func pct(l []time.Duration, p int) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[len(s)*p/100]
}

func report(name string, l []time.Duration, cpu time.Duration) {
	fmt.Printf("%-24s %d calls: latency p50 %v p99 %v, CPU %.1f us/call\n", name, len(l), pct(l, 50), pct(l, 99), float64(cpu)/float64(len(l))/1e3)
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
