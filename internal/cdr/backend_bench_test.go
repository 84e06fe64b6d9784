package cdr

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/diskqueue"
	"github.com/pleiades-pbx/pleiades/internal/pgtable"
)

// The backends' side of a record (issue 19: where a record's CPU goes once the call has
// queued it). Each benchmark op is one record; records go in batches of benchBatch, about
// what a backend's 50 ms linger gathers at 250 calls/s (docs/performance.md).

const benchBatch = 12

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

// benchWrite hands b.N records to w in batches.
func benchWrite(b *testing.B, w Backend) {
	recs := benchRecords(1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += benchBatch {
		j := i % (len(recs) - benchBatch)
		if err := w.Write(ctx, recs[j:j+min(benchBatch, b.N-i)]); err != nil {
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

func BenchmarkBackendPgSQL(b *testing.B) {
	schema, _ := pgSchema(b, "")
	p := NewPgSQL(pgtable.Conn{Host: "127.0.0.1", Port: "5432", DBName: "test", User: "postgres", Table: schema + ".cdr"})
	defer p.Close()
	benchWrite(b, p)
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
	for i := 0; i < b.N; i += benchBatch {
		j := i % (len(recs) - benchBatch)
		q.Add(recs[j : j+min(benchBatch, b.N-i)])
		if err := q.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
