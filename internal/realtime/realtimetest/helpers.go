package realtimetest

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Conf parses .conf text a driver test writes with the project's parser; such text must parse.
func Conf(file, text string) *conf.Config {
	cfg, err := conf.Parse(file, []byte(text), conf.Options{})
	if err != nil {
		panic(fmt.Sprintf("test config %s: %v", file, err))
	}
	return cfg
}

// Logger is a driver's logger for a test: warnings and above, into the test's log.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
