package sip

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// A function run after another has ended takes the goroutine that ran the first (no new
// one); close ends the spare goroutines; a function never waits for a busy one.
func TestGoPoolReusesItsGoroutines(t *testing.T) {
	p := newGoPool()
	done := make(chan struct{})
	p.run(func() { close(done) })
	<-done
	time.Sleep(20 * time.Millisecond) // the goroutine is back waiting
	before := runtime.NumGoroutine()
	release := make(chan struct{})
	started := make(chan struct{})
	p.run(func() { close(started); <-release })
	<-started
	if n := runtime.NumGoroutine(); n != before {
		t.Fatalf("%d goroutines while the second function runs, %d before: the spare one was not taken", n, before)
	}
	// the only goroutine is busy: the next function gets a new one at once
	second := make(chan struct{})
	p.run(func() { close(second) })
	select {
	case <-second:
	case <-time.After(2 * time.Second):
		t.Fatal("a function waited for a busy goroutine")
	}
	close(release)
	time.Sleep(20 * time.Millisecond)
	p.close()
	waitFor(t, 2*time.Second, "the spare goroutines ended", func() bool { return runtime.NumGoroutine() <= before-1 })
	// run still works after close
	third := make(chan struct{})
	p.run(func() { close(third) })
	<-third
	p.close()
}

// deepStack uses about n KB of stack.
//
//go:noinline
func deepStack(n int) byte {
	var pad [1024]byte
	pad[n%1024] = byte(n)
	if n <= 1 {
		return pad[0]
	}
	return deepStack(n-1) + pad[n%1024]
}

// BenchmarkGoroutineDeepStack: a task that needs 32 KB of stack, on a new goroutine each time
// (it grows its stack from the start: copystack) and on the pool's.
func BenchmarkGoroutineDeepStack(b *testing.B) {
	var wg sync.WaitGroup
	b.Run("go", func(b *testing.B) {
		for range b.N {
			wg.Add(1)
			go func() { defer wg.Done(); deepStack(32) }()
			wg.Wait()
		}
	})
	b.Run("pool", func(b *testing.B) {
		p := newGoPool()
		defer p.close()
		for range b.N {
			wg.Add(1)
			p.run(func() { defer wg.Done(); deepStack(32) })
			wg.Wait()
		}
	})
}
