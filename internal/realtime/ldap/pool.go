package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// pool holds up to Settings.PoolSize bound connections; a connection that saw a network error
// is closed rather than returned.
type pool struct {
	set    Settings
	sem    chan struct{}
	mu     sync.Mutex
	idle   []*goldap.Conn
	closed bool // after a reload or Close: connections coming back are closed

	// for the status command
	connects, failures atomic.Uint64
	connected          atomic.Pointer[string] // URL of the last successful connect
	since              atomic.Int64           // unix nanos of it
	lastErr            atomic.Pointer[string]
}

func newPool(s Settings) *pool {
	return &pool{set: s, sem: make(chan struct{}, s.PoolSize)}
}

// get returns a connection, dialing one (each URL in turn) when none is idle.
func (p *pool) get(ctx context.Context) (*goldap.Conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			p.mu.Unlock()
			return c, nil
		}
	}
	p.mu.Unlock()
	c, err := p.dial(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return c, nil
}

// put gives c back (bad: close it instead).
func (p *pool) put(c *goldap.Conn, bad bool) {
	p.mu.Lock()
	if bad || p.closed || c.IsClosing() {
		c.Close()
	} else {
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	<-p.sem
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
	p.closed = true
}

func (p *pool) dial(ctx context.Context) (*goldap.Conn, error) {
	var errs []error
	for _, u := range p.set.URLs {
		c, err := p.dialOne(ctx, u)
		if err == nil {
			p.connects.Add(1)
			p.connected.Store(&u)
			p.since.Store(time.Now().UnixNano())
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	p.failures.Add(1)
	err := fmt.Errorf("%w: ldap: %w", realtime.ErrUnavailable, errors.Join(errs...))
	msg := err.Error()
	p.lastErr.Store(&msg)
	return nil, err
}

func (p *pool) dialOne(ctx context.Context, raw string) (*goldap.Conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	timeout := p.set.Timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	dialer := &net.Dialer{Timeout: timeout}
	c, err := goldap.DialURL(raw, goldap.DialWithDialer(dialer), goldap.DialWithTLSConfig(p.set.tlsConfig(u.Hostname())))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(p.set.Timeout)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if p.set.StartTLS && u.Scheme == "ldap" {
		if err := c.StartTLS(p.set.tlsConfig(u.Hostname())); err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	if p.set.User != "" {
		if err := c.Bind(p.set.User, p.set.Pass); err != nil {
			c.Close()
			return nil, fmt.Errorf("bind as %s: %w", p.set.User, err)
		}
	}
	return c, nil
}

// unavailable reports whether err means the server could not answer (the connection is then
// dropped and the call fails over).
func unavailable(err error) bool {
	var le *goldap.Error
	if !errors.As(err, &le) {
		var ne net.Error
		return errors.As(err, &ne)
	}
	switch le.ResultCode {
	case goldap.ErrorNetwork, goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultUnwillingToPerform,
		goldap.LDAPResultTimeout, goldap.LDAPResultServerDown, goldap.LDAPResultConnectError, goldap.LDAPResultTimeLimitExceeded:
		return true
	}
	return false
}

// with runs f on a pooled connection. ctx cancels a request in flight by closing its
// connection; a network error or timeout wraps realtime.ErrUnavailable.
func (p *pool) with(ctx context.Context, f func(*goldap.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ldap: %w", err)
	}
	c, err := p.get(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ldap: %w", ctx.Err())
		}
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err = f(c)
	stopped := stop()
	switch {
	case err == nil:
		p.put(c, !stopped)
		return nil
	case !stopped || ctx.Err() != nil:
		p.put(c, true)
		return fmt.Errorf("ldap: %w", context.Cause(ctx))
	case unavailable(err):
		p.put(c, true)
		msg := err.Error()
		p.lastErr.Store(&msg)
		return fmt.Errorf("%w: ldap: %w", realtime.ErrUnavailable, err)
	}
	p.put(c, false)
	return fmt.Errorf("ldap: %w", err)
}
