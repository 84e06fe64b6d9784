package cdr

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
	"github.com/pleiades-pbx/pleiades/internal/pgtable"
)

// The backends' side of a record (issue 19: where a record's CPU goes once the call has
// queued it). Each benchmark op is one record; records go in batches of -cdr.batch: 12 by
// default, what a backend's 50 ms linger gathers at 250 calls/s; 50 at issue 19's 1,000
// records/s (docs/performance.md).

var batchFlag = flag.Int("cdr.batch", 12, "records a backend benchmark writes at a time")

// benchRecord is an answered call's record as bench/cdrcalls.sh makes them.
func benchRecord(i int) *Record {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 4 * time.Millisecond)
	uid := "1765101600." + strconv.Itoa(i)
	return &Record{AccountCode: "", Src: "alice", Dst: "300", DContext: "calls", CLID: `"Alice" <alice>`,
		Channel: "SIP/alice-" + strconv.Itoa(100000+i), LastApp: "Hangup", LastData: "",
		Start: start, Answer: start.Add(2 * time.Millisecond), End: start.Add(2 * time.Second),
		Disposition: DispAnswered, AMAFlags: AMADocumentation, UniqueID: uid, LinkedID: uid, Sequence: i}
}

func benchRecords(n int) []*Record {
	out := make([]*Record, n)
	for i := range out {
		out[i] = benchRecord(i)
	}
	return out
}

// cpuTime is the user and system time the process has used (every goroutine: the
// queues', the database drivers', the runtime's).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per op since t0 (cpu-ns/op): wall time counts
// the waits for fsync and the database, CPU time what a record takes from the calls.
func reportCPU(b *testing.B, t0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
}

// benchWrite hands b.N records to w in batches.
func benchWrite(b *testing.B, w Backend) {
	recs := benchRecords(1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	t0 := cpuTime()
	defer func() { reportCPU(b, t0) }()
	benchBatch := *batchFlag
	for i := 0; i < b.N; i += benchBatch {
		j := i % (len(recs) - benchBatch)
		if err := w.Write(ctx, recs[j:j+min(benchBatch, b.N-i)]); err != nil {
			b.Fatal(err)
		}
	}
}

var pieceFlag = flag.Int("cdr.piece", 10, "records a streaming benchmark appends at a time")

// benchStream hands b.N records to s as its queue does: transactions of -cdr.batch records,
// each appended -cdr.piece at a time.
func benchStream(b *testing.B, s diskqueue.Streamer[*Record]) {
	recs := benchRecords(1024)
	ctx := context.Background()
	batch, piece := *batchFlag, *pieceFlag
	b.ReportAllocs()
	b.ResetTimer()
	t0 := cpuTime()
	defer func() { reportCPU(b, t0) }()
	for i := 0; i < b.N; i += batch {
		st, err := s.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; k < batch && i+k < b.N; k += piece {
			j := (i + k) % (len(recs) - piece)
			if err := st.Append(ctx, recs[j:j+min(piece, batch-k, b.N-i-k)]); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBackendCSV(b *testing.B) {
	benchWrite(b, &CSV{Dir: b.TempDir(), Set: CSVSettings{AccountLogs: true}})
}

func BenchmarkBackendSQLite(b *testing.B) {
	s := &SQLite{Path: filepath.Join(b.TempDir(), "master.db")}
	defer s.Close()
	benchWrite(b, s)
}

// BenchmarkBackendSQLiteStream: as the queue hands records to master.db, in pieces of
// -cdr.piece into transactions of -cdr.batch.
func BenchmarkBackendSQLiteStream(b *testing.B) {
	s := &SQLite{Path: filepath.Join(b.TempDir(), "master.db")}
	defer s.Close()
	benchStream(b, s)
}

// BenchmarkBackendPgSQL also reports the CPU the PostgreSQL server process of the
// connection used per record (pg-cpu-ns/op, from /proc when the server runs on this
// host): on a box that runs both it comes out of the calls' share too.
func BenchmarkBackendPgSQL(b *testing.B) { benchPgSQL(b, func(p *PgSQL) { benchWrite(b, p) }) }

// BenchmarkBackendPgSQLStream: as the queue hands records to cdr_pgsql, in pieces of
// -cdr.piece (a COPY each) into transactions of -cdr.batch.
func BenchmarkBackendPgSQLStream(b *testing.B) { benchPgSQL(b, func(p *PgSQL) { benchStream(b, p) }) }

func benchPgSQL(b *testing.B, run func(p *PgSQL)) {
	schema, admin := pgSchema(b, "")
	p := NewPgSQL(pgtable.Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".cdr", AppName: schema})
	defer p.Close()
	if err := p.Write(context.Background(), benchRecords(1)); err != nil { // connected, its server process started
		b.Fatal(err)
	}
	var pid int
	admin.QueryRow(context.Background(), "SELECT pid FROM pg_stat_activity WHERE application_name = $1", schema).Scan(&pid)
	t0 := procCPU(pid)
	run(p)
	if t1 := procCPU(pid); t0 >= 0 && t1 >= 0 {
		b.ReportMetric(float64(t1-t0)/float64(b.N), "pg-cpu-ns/op")
	}
}

// procCPU is the user and system time of process pid from /proc (clock ticks of 10 ms), -1
// when it cannot be read.
func procCPU(pid int) time.Duration {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil || pid == 0 {
		return -1
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return time.Duration(u+s) * 10 * time.Millisecond
}

// BenchmarkSpool is a spooled queue's own work for a record, its backend aside: the
// record appended to the spool file before the backend sees it, and the file's head
// marked written (or emptied) after; the queue's goroutine woken once a batch.
func BenchmarkSpool(b *testing.B) {
	q, err := diskqueue.New[*Record](discard{}, nil, filepath.Join(b.TempDir(), "discard.queue"), nil, diskqueue.Options{What: "CDR"})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	recs := benchRecords(1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	t0 := cpuTime()
	defer func() { reportCPU(b, t0) }()
	benchBatch := *batchFlag
	for i := 0; i < b.N; i += benchBatch {
		j := i % (len(recs) - benchBatch)
		q.Add(recs[j : j+min(benchBatch, b.N-i)])
		if err := q.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryQueue is the same without a spool file (the CSV and AMI backends' queues).
func BenchmarkMemoryQueue(b *testing.B) {
	q, err := diskqueue.New[*Record](discard{}, nil, "", nil, diskqueue.Options{What: "CDR"})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	recs := benchRecords(1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	t0 := cpuTime()
	defer func() { reportCPU(b, t0) }()
	benchBatch := *batchFlag
	for i := 0; i < b.N; i += benchBatch {
		j := i % (len(recs) - benchBatch)
		q.Add(recs[j : j+min(benchBatch, b.N-i)])
		if err := q.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
