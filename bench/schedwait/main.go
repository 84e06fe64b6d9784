// Command schedwait reads an execution trace of the server (PLEIADES_TRACE, see
// bench/cdrtrace.sh) and prints where goroutines waited for a processor: how many waits
// from runnable to running took how long, how many of the long ones (> 0.5 ms) began during
// a GC mark, and, for those long waits, which goroutines (by the function they were
// started with) were running meanwhile and for how long, then every goroutine kind's
// running time. It is its own module (golang.org/x/exp/trace is no dependency of the
// server): run it from this directory, `go run . TRACE`.
package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// entry names a goroutine by the outermost frame of a stack it was seen with, shortened to
// its package's last element.
func entry(st trace.Stack) string {
	var last string
	for f := range st.Frames() {
		last = f.Func
	}
	if i := strings.LastIndex(last, "/"); i >= 0 {
		last = last[i+1:]
	}
	return last
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: schedwait TRACE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	const long = 500 * time.Microsecond
	var (
		name       = map[trace.GoID]string{}
		running    = map[trace.GoID]trace.Time{}
		runnableAt = map[trace.GoID]trace.Time{}
		occupied   = map[string]time.Duration{} // running during a long wait
		ran        = map[string]time.Duration{} // running in all
		buckets    [5]int                       // <0.1, 0.1-0.5, 0.5-1, 1-2, >2 ms
		inMark     bool
		markStart  trace.Time
		marks      int
		markTime   time.Duration
		longs      int
		longInMark int
	)
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		switch ev.Kind() {
		case trace.EventRangeBegin, trace.EventRangeEnd:
			if strings.Contains(ev.Range().Name, "GC concurrent mark") {
				if ev.Kind() == trace.EventRangeBegin {
					inMark, markStart = true, ev.Time()
					marks++
				} else if inMark {
					inMark = false
					markTime += time.Duration(ev.Time() - markStart)
				}
			}
			continue
		case trace.EventStateTransition:
		default:
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		if e := entry(st.Stack); e != "" {
			name[id] = e
		}
		now := ev.Time()
		switch {
		case to == trace.GoRunnable:
			runnableAt[id] = now
		case to == trace.GoRunning:
			if at, ok := runnableAt[id]; ok {
				d := time.Duration(now - at)
				buckets[bucketOf(d)]++
				if d > long {
					longs++
					if inMark {
						longInMark++
					}
					for g, since := range running {
						occupied[name[g]] += time.Duration(now - max(since, at))
					}
				}
				delete(runnableAt, id)
			}
			running[id] = now
		case from == trace.GoRunning:
			if since, ok := running[id]; ok {
				ran[name[id]] += time.Duration(now - since)
			}
			delete(running, id)
		}
	}
	fmt.Printf("waits for a processor: <0.1 ms %d, 0.1-0.5 ms %d, 0.5-1 ms %d, 1-2 ms %d, >2 ms %d\n",
		buckets[0], buckets[1], buckets[2], buckets[3], buckets[4])
	fmt.Printf("GC: %d marks, %v in all; waits >0.5 ms: %d, %d of them during a mark\n", marks, markTime.Round(time.Millisecond), longs, longInMark)
	top("running while a goroutine waited >0.5 ms:", occupied)
	top("running in all:", ran)
}

// bucketOf is the index in buckets of a wait of d.
func bucketOf(d time.Duration) int {
	switch {
	case d < 100*time.Microsecond:
		return 0
	case d < 500*time.Microsecond:
		return 1
	case d < time.Millisecond:
		return 2
	case d < 2*time.Millisecond:
		return 3
	}
	return 4
}

func top(title string, m map[string]time.Duration) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	fmt.Println(title)
	for _, k := range keys[:min(len(keys), 12)] {
		fmt.Printf("  %10v  %s\n", m[k].Round(time.Microsecond), cmp.Or(k, "?"))
	}
}
