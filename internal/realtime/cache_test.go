package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestCache(t *testing.T) {
	c := realtime.NewCache[string](50 * time.Millisecond)
	c.RetryAfter = 20 * time.Millisecond
	ctx := context.Background()
	var calls atomic.Int32
	type errBox struct{ err error }
	var fail atomic.Pointer[errBox]
	fail.Store(&errBox{})
	load := func(context.Context) (string, error) {
		calls.Add(1)
		if err := fail.Load().err; err != nil {
			return "", err
		}
		return fmt.Sprint("v", calls.Load()), nil
	}
	v, err := c.GetOrLoad(ctx, "sippeers", "alice", load)
	if err != nil || v != "v1" {
		t.Fatalf("first = %q, %v", v, err)
	}
	if v, _ := c.GetOrLoad(ctx, "sippeers", "alice", load); v != "v1" || calls.Load() != 1 {
		t.Errorf("cached = %q, calls %d", v, calls.Load())
	}
	// Backend down: the expired value keeps serving, the error is recorded, nothing is dropped.
	time.Sleep(60 * time.Millisecond)
	fail.Store(&errBox{fmt.Errorf("db: %w", realtime.ErrUnavailable)})
	v, err = c.GetOrLoad(ctx, "sippeers", "alice", load)
	if err != nil || v != "v1" {
		t.Errorf("stale = %q, %v", v, err)
	}
	st := c.Stats()
	if st.LoadErrors != 1 || st.Stale != 1 || st.LastError == "" || st.Entries != 1 {
		t.Errorf("stats = %+v", st)
	}
	// No cached value and backend down: the error, and nothing cached.
	if _, err := c.GetOrLoad(ctx, "sippeers", "bob", load); !errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("bob = %v", err)
	}
	if _, ok := c.Get("sippeers", "bob"); ok || c.Len() != 1 {
		t.Errorf("bob cached after an error")
	}
	// Not found removes the object.
	time.Sleep(30 * time.Millisecond)
	fail.Store(&errBox{realtime.ErrNotFound})
	if _, err := c.GetOrLoad(ctx, "sippeers", "alice", load); !errors.Is(err, realtime.ErrNotFound) {
		t.Errorf("not found = %v", err)
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d after not found", c.Len())
	}
	// Put, Get, Invalidate, InvalidateFamily.
	c.Put("a", "1", "x")
	c.Put("a", "2", "y")
	c.Put("b", "1", "z")
	if v, ok := c.Get("a", "1"); !ok || v != "x" {
		t.Errorf("Get = %q %v", v, ok)
	}
	c.Invalidate("a", "1")
	if _, ok := c.Get("a", "1"); ok {
		t.Errorf("invalidated entry served")
	}
	c.InvalidateFamily("a")
	if c.Len() != 1 {
		t.Errorf("Len = %d after InvalidateFamily", c.Len())
	}
	time.Sleep(60 * time.Millisecond)
	if _, ok := c.Get("b", "1"); ok {
		t.Errorf("expired entry served by Get")
	}
	c.Purge()
	if c.Len() != 0 {
		t.Errorf("Len = %d after Purge", c.Len())
	}
}

func TestCacheSingleFlight(t *testing.T) {
	c := realtime.NewCache[int](time.Minute)
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.GetOrLoad(context.Background(), "f", "k", func(context.Context) (int, error) {
				calls.Add(1)
				<-release
				return 42, nil
			})
			if err != nil || v != 42 {
				t.Errorf("GetOrLoad = %d, %v", v, err)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("load called %d times", calls.Load())
	}
}

func BenchmarkCacheGet(b *testing.B) {
	c := realtime.NewCache[*realtime.Row](time.Minute)
	for i := 0; i < 10000; i++ {
		c.Put("sippeers", fmt.Sprint("peer", i), &realtime.Row{})
	}
	load := func(context.Context) (*realtime.Row, error) { return nil, errors.New("unexpected") }
	ctx := context.Background()
	b.Run("Get", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok := c.Get("sippeers", "peer1234"); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("GetOrLoad", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.GetOrLoad(ctx, "sippeers", "peer1234", load); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetParallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Get("sippeers", "peer1234")
			}
		})
	})
}
