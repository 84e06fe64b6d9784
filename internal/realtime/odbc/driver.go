package odbc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/odbc/unixodbc"
)

// Driver is the "odbc" realtime driver. It is safe for concurrent use.
type Driver struct {
	log *slog.Logger

	mu       sync.RWMutex
	conns    map[string]*conn // by lower-cased section name
	disabled map[string]bool
}

var _ realtime.Driver = (*Driver)(nil)

// New returns an unconfigured driver that logs to log (nil: slog.Default()).
func New(log *slog.Logger) *Driver {
	if log == nil {
		log = slog.Default()
	}
	return &Driver{log: log.With("driver", "odbc"), conns: map[string]*conn{}, disabled: map[string]bool{}}
}

// Name is the name extconfig.conf uses.
func (d *Driver) Name() string { return "odbc" }

// ConfigFile is the driver's configuration file.
func (d *Driver) ConfigFile() string { return "res_odbc.conf" }

// Configure applies res_odbc.conf (nil: no connections). Connections whose settings did not
// change keep their pool, cached column metadata and counters; the others are replaced and their
// old pools closed. On error nothing changes.
func (d *Driver) Configure(ctx context.Context, cfg *conf.Config) error {
	pc, warns, err := parseConfig(cfg)
	for _, w := range warns {
		d.log.Warn(w)
	}
	if err != nil {
		return err
	}
	for _, v := range pc.Env {
		if err := os.Setenv(v.Name, v.Value); err != nil {
			return &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf("[ENV] %s: %v", v.Name, err)}
		}
		d.log.Info("odbc: environment variable set from [ENV]", "name", v.Name)
	}
	if len(pc.Conns) > 0 { // after [ENV], which may set ODBCSYSINI
		if err := unixodbc.Load(); err != nil { // "odbc: libodbc.so.2 not found (install ...)"
			return err
		}
	}

	d.mu.Lock()
	old := d.conns
	next := make(map[string]*conn, len(pc.Conns))
	var fresh []*conn
	for _, cc := range pc.Conns {
		key := strings.ToLower(cc.Name)
		if c := old[key]; c != nil && sameSettings(c.cfg, cc) {
			c.cfg.File, c.cfg.Line = cc.File, cc.Line
			next[key] = c
			continue
		}
		c := newConn(cc, d.log)
		next[key] = c
		fresh = append(fresh, c)
	}
	d.conns = next
	d.disabled = pc.Disabled
	d.mu.Unlock()

	for key, c := range old {
		if next[key] != c {
			c.close() // in-use connections close when released
		}
	}
	var wg sync.WaitGroup
	for _, c := range fresh {
		if !c.cfg.PreConnect {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.db.PingContext(ctx); err != nil {
				c.log.Warn("odbc pre-connect failed", "error", err)
				return
			}
			c.log.Info("odbc pre-connected", "dsn", c.cfg.display())
		}()
	}
	wg.Wait()
	return nil
}

// sameSettings compares two sections, ignoring where they were read from.
func sameSettings(a, b *connConfig) bool {
	x, y := *a, *b
	x.File, x.Line, y.File, y.Line = "", 0, "", 0
	return x == y
}

// conn returns the connection named db.
func (d *Driver) conn(db string) (*conn, error) {
	key := strings.ToLower(db)
	d.mu.RLock()
	c, disabled := d.conns[key], d.disabled[key]
	d.mu.RUnlock()
	switch {
	case c != nil:
		return c, nil
	case disabled:
		return nil, &unavailableError{msg: fmt.Sprintf("odbc: [%s] is disabled in res_odbc.conf (enabled=no)", db)}
	}
	return nil, fmt.Errorf("%w: odbc: no [%s] in res_odbc.conf", realtime.ErrUnknownDatabase, db)
}

// Close closes every connection.
func (d *Driver) Close() error {
	d.mu.Lock()
	conns := d.conns
	d.conns = map[string]*conn{}
	d.mu.Unlock()
	var first error
	for _, name := range sortedNames(conns) {
		if err := conns[name].close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
