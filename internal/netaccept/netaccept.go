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
	var (
		delay    time.Duration
		lastLog  time.Time
		unlogged int // errors not in a log line yet
		run      int // errors since the last accepted connection
	)
	for {
		c, err := ln.Accept()
		if err == nil {
			if run > 1 {
				log.Warn(fmt.Sprintf("%s accepts connections again on %s after %d accept errors", name, ln.Addr(), run))
				unlogged = 0
			}
			delay, run = 0, 0
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
		run++
		if delay == 0 {
			delay = MinDelay
		} else if delay *= 2; delay > MaxDelay {
			delay = MaxDelay
		}
		if now := time.Now(); now.Sub(lastLog) >= LogInterval {
			more := ""
			if unlogged > 0 {
				more = fmt.Sprintf(" (%d more since the last report)", unlogged)
			}
			log.Warn(fmt.Sprintf("%s accept error on %s: %v%s; retrying with backoff up to %v", name, ln.Addr(), err, more, MaxDelay))
			lastLog, unlogged = now, 0
		} else {
			unlogged++
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		}
	}
}
