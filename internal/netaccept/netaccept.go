// Package netaccept is an accept loop that outlives descriptor exhaustion: when Accept fails
// (EMFILE, ENFILE, ECONNABORTED, ENOBUFS...), it waits and tries again, instead of returning
// and leaving the listener open but deaf, which is what a plain "for { c, err := Accept();
// if err != nil { return } }" does.
//
// Serve retries every error except the listener's close (net.ErrClosed) and stop. The
// pause starts at MinDelay and doubles up to MaxDelay (net/http's figures are 5 ms and 1 s);
// an accepted connection resets it. Errors are logged at WARNING: one at once, then at most
// one line every LogInterval saying how many there were, and a line when connections are
// accepted again after more than one error, so a listener stuck at its descriptor limit
// writes a few lines a minute, not a thousand a second.
package netaccept

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// The backoff and logging figures.
const (
	MinDelay    = 5 * time.Millisecond
	MaxDelay    = time.Second
	LogInterval = 10 * time.Second
)

// Serve accepts connections from ln and gives each to handle, in the calling goroutine (handle
// starts what serves the connection and returns), until ln is closed or stop is closed. name
// says whose listener it is in log lines ("Manager", "HTTP").
func Serve(ln net.Listener, stop <-chan struct{}, log *slog.Logger, name string, handle func(net.Conn)) {
	r := Retrier{Log: log, Name: name}
	for {
		c, err := ln.Accept()
		if err == nil {
			r.Accepted(ln)
			handle(c)
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		select {
		case <-stop:
			return
		default:
		}
		t := time.NewTimer(r.Failed(ln, err))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		}
	}
}

// Retrier is the backoff and the rare log lines of one accept loop, for loops that cannot
// use Serve (a net.Listener wrapper whose Accept must not fail, as sipgo's transport needs).
// It is used by the loop's one goroutine.
type Retrier struct {
	Log  *slog.Logger
	Name string // whose listener, in log lines

	delay    time.Duration
	lastLog  time.Time
	unlogged int // errors not in a log line yet
	run      int // errors since the last accepted connection
}

// Accepted records an accepted connection: the backoff starts again, and a line says the
// listener recovered when more than one error came before.
func (r *Retrier) Accepted(ln net.Listener) {
	if r.run > 1 {
		r.Log.Warn(fmt.Sprintf("%s accepts connections again on %s after %d accept errors", r.Name, ln.Addr(), r.run))
		r.unlogged = 0
	}
	r.delay, r.run = 0, 0
}

// Failed records an accept error, logs it when a line is due, and returns how long to wait
// before the next Accept.
func (r *Retrier) Failed(ln net.Listener, err error) time.Duration {
	r.run++
	if r.delay == 0 {
		r.delay = MinDelay
	} else if r.delay *= 2; r.delay > MaxDelay {
		r.delay = MaxDelay
	}
	if now := time.Now(); now.Sub(r.lastLog) >= LogInterval {
		more := ""
		if r.unlogged > 0 {
			more = fmt.Sprintf(" (%d more since the last report)", r.unlogged)
		}
		r.Log.Warn(fmt.Sprintf("%s accept error on %s: %v%s; retrying with backoff up to %v", r.Name, ln.Addr(), err, more, MaxDelay))
		r.lastLog, r.unlogged = now, 0
	} else {
		r.unlogged++
	}
	return r.delay
}
