package logger

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		kind  Kind
		n     int
	}{
		{slog.LevelError, KindError, 0},
		{slog.LevelWarn, KindWarning, 0},
		{slog.LevelInfo, KindNotice, 0},
		{LevelSecurity, KindSecurity, 0},
		{slog.LevelDebug, KindDebug, 1},
		{DebugLevel(3), KindDebug, 3},
		{Verbose(1), KindVerbose, 1},
		{Verbose(4), KindVerbose, 4},
	} {
		k, n := classify(tc.level)
		if k != tc.kind || n != tc.n {
			t.Errorf("classify(%d) = %v,%d want %v,%d", tc.level, k, n, tc.kind, tc.n)
		}
	}
}

type capture struct {
	mu    sync.Mutex
	lines []string
}

func (c *capture) write(l string) { c.mu.Lock(); c.lines = append(c.lines, l); c.mu.Unlock() }
func (c *capture) all() string    { c.mu.Lock(); defer c.mu.Unlock(); return strings.Join(c.lines, "") }

func TestConsolesFilterByOwnVerboseAndDebug(t *testing.T) {
	l := New()
	log := l.Slog()
	var loud, quiet capture
	l.AttachConsole(3, loud.write)
	_, detach := l.AttachConsole(0, quiet.write)
	log.Log(t.Context(), Verbose(3), "Executing [s@ctx:1] NoOp")
	log.Log(t.Context(), Verbose(4), "too deep")
	log.Warn("careful")
	log.Debug("hidden at debug 0")
	l.SetDebug(1)
	log.Debug("shown at debug 1")
	if got := loud.all(); !strings.Contains(got, "    -- Executing [s@ctx:1] NoOp\n") || strings.Contains(got, "too deep") {
		t.Fatalf("loud console: %q", got)
	}
	if got := quiet.all(); strings.Contains(got, "Executing") || !strings.Contains(got, "WARNING[") || !strings.Contains(got, "careful") {
		t.Fatalf("quiet console: %q", got)
	}
	if got := loud.all(); strings.Contains(got, "hidden") {
		t.Fatalf("debug shown at level 0: %q", got)
	}
	// DEBUG is not in the default console channel (notice,warning,error): files only.
	detach()
	log.Warn("after detach")
	if strings.Contains(quiet.all(), "after detach") {
		t.Fatal("detached console still gets lines")
	}
}

func TestParseSettings(t *testing.T) {
	cfg, err := conf.Parse("logger.conf", []byte("[general]\ndateformat=%F %T\nrotatestrategy=rotate\n[logfiles]\nconsole => notice,warning\nfull => *\nmessages => notice,verbose(3)\n"), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.DateFormat != "%F %T" || s.RotateStrategy != "rotate" || len(s.Channels) != 3 {
		t.Fatalf("settings %+v", s)
	}
	if s.Channels[2].Verbose != 3 || !s.Channels[2].Kinds[KindVerbose] || s.Channels[2].Kinds[KindDebug] {
		t.Fatalf("messages channel %+v", s.Channels[2])
	}
	for _, bad := range []string{"[logfiles]\nx => notice,bogus\n", "[logfiles]\nx => verbose(x)\n", "[general]\nrotatestrategy=sometimes\n"} {
		cfg, err := conf.Parse("logger.conf", []byte(bad), conf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseSettings(cfg); err == nil || !strings.Contains(err.Error(), "logger.conf:2") {
			t.Errorf("%q: error %v, want logger.conf:2", bad, err)
		}
	}
}

func TestFileChannelsAndRotate(t *testing.T) {
	dir := t.TempDir()
	l := New()
	cfg, _ := conf.Parse("logger.conf", []byte("[logfiles]\nmessages.log => notice,warning,error,verbose(2)\n"), conf.Options{})
	s, err := ParseSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Configure(s, dir); err != nil {
		t.Fatal(err)
	}
	log := l.Slog()
	log.Info("first")
	log.Log(t.Context(), Verbose(2), "two")
	log.Log(t.Context(), Verbose(3), "three")
	path := filepath.Join(dir, "messages.log")
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "NOTICE[") || !strings.Contains(string(b), "first") || !strings.Contains(string(b), "two") || strings.Contains(string(b), "three") {
		t.Fatalf("file: %q", b)
	}
	// Asterisk's "NOTICE[pid]: file:line function: message", as fail2ban's asterisk filter
	// reads it (log_prefix: [^:]+:\d*(?:(?: in)? [^:]+:)? before the message).
	if !regexp.MustCompile(`\] NOTICE\[\d+\]:? logger_test\.go:\d+ TestFileChannelsAndRotate: first\n`).Match(b) {
		t.Fatalf("file line shape: %q", b)
	}
	if err := l.Rotate(); err != nil {
		t.Fatal(err)
	}
	log.Info("second")
	if b, _ := os.ReadFile(path + ".0"); !strings.Contains(string(b), "first") {
		t.Fatalf("rotated: %q", b)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "first") || !strings.Contains(string(b), "second") {
		t.Fatalf("reopened: %q", b)
	}
	l.Close()
}

func TestFormatTime(t *testing.T) {
	tm := time.Date(2026, 11, 5, 7, 8, 9, 123456789, time.UTC)
	for f, want := range map[string]string{
		"%b %e %T":    "Nov  5 07:08:09",
		"%F %T.%3q":   "2026-11-05 07:08:09.123",
		"%d/%m/%y %%": "05/11/26 %",
		"%s":          "1793862489",
		"plain %Q":    "plain %Q",
		"trailing %":  "trailing %",
		"%H:%M:%S %j": "07:08:09 309",
	} {
		if got := formatTime(tm, f); got != want {
			t.Errorf("formatTime(%q) = %q, want %q", f, got, want)
		}
	}
}

// TestLineShape: file lines carry Asterisk's "file:line function: message" after the level,
// what fail2ban's asterisk filter reads before the message.
func TestLineShape(t *testing.T) {
	dir := t.TempDir()
	l := New()
	cfg, _ := conf.Parse("logger.conf", []byte("[logfiles]\nmessages => notice\n"), conf.Options{})
	s, err := ParseSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Configure(s, dir); err != nil {
		t.Fatal(err)
	}
	l.Slog().Info("Registration from 'x' failed")
	b, _ := os.ReadFile(filepath.Join(dir, "messages"))
	file := regexp.MustCompile(`^\[[^\]]+\] NOTICE\[\d+\] logger_test\.go:\d+ TestLineShape: Registration from 'x' failed\n$`)
	if !file.Match(b) {
		t.Errorf("file line %q", b)
	}
}
