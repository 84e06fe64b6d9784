package sqlpool

import (
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	for _, tc := range []struct {
		key, val string
		known    bool
		bad      bool
		check    func(Settings) bool
	}{
		{"requirements", "CreateChar", true, false, func(s Settings) bool { return s.Requirements == RequireCreateChar }},
		{"requirements", "drop", true, true, func(s Settings) bool { return s.Requirements == RequireWarn }},
		{"max_connections", "20", true, false, func(s Settings) bool { return s.MaxConns == 20 }},
		{"max_connections", "0", true, true, func(s Settings) bool { return s.MaxConns == 8 }},
		{"max_connections", "10001", true, true, nil},
		{"connect_timeout", "1.5", true, false, func(s Settings) bool { return s.ConnectTimeout == 1500*time.Millisecond }},
		{"connect_timeout", "0", true, true, func(s Settings) bool { return s.ConnectTimeout == 3*time.Second }},
		{"negative_connection_cache", "0", true, false, func(s Settings) bool { return s.NegativeCache == 0 }},
		{"negative_connection_cache", "-1", true, true, nil},
		{"negative_connection_cache", "NaN", true, true, nil},
		{"connect_timeout", "1e7", true, true, nil},
		{"dbhost", "x", false, false, func(s Settings) bool { return s == Defaults() }},
	} {
		s := Defaults()
		known, err := s.Set(tc.key, tc.val)
		if known != tc.known || (err != nil) != tc.bad || (tc.check != nil && !tc.check(s)) {
			t.Errorf("Set(%q, %q) = %v, %v; settings %+v", tc.key, tc.val, known, err, s)
		}
	}
}

func TestUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		90061 * time.Second:           "1 days, 1 hours, 1 minutes, 1 seconds",
		59 * time.Second:              "59 seconds",
		61 * time.Second:              "1 minutes, 1 seconds",
		3601 * time.Second:            "1 hours, 0 minutes, 1 seconds",
		(366*86400 + 5) * time.Second: "1 years, 1 days, 0 hours, 0 minutes, 5 seconds",
	} {
		if got := Uptime(d); got != want {
			t.Errorf("Uptime(%v) = %q, want %q", d, got, want)
		}
	}
}
