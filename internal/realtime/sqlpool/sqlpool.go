// Package sqlpool holds what the mysql and pgsql drivers share about a connection: the settings
// of res_config_mysql.conf and res_pgsql.conf that are the same (Asterisk's requirements=
// policy, and Pleiades' pool options max_connections, connect_timeout,
// negative_connection_cache) with their defaults and parsing, and how their status commands
// print how long a connection has been up.
package sqlpool

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Requirements policies (requirements=).
const (
	RequireWarn        = "warn"        // a missing column is an error, a narrow one a warning
	RequireCreateClose = "createclose" // missing columns are added with the closest type
	RequireCreateChar  = "createchar"  // missing columns are added as VARCHAR
)

// Settings are the shared settings of one connection (a section of res_config_mysql.conf, or
// res_pgsql.conf's [general]).
type Settings struct {
	Requirements   string        // requirements=: warn (default), createclose, createchar
	MaxConns       int           // max_connections: pool size, default 8
	ConnectTimeout time.Duration // connect_timeout (seconds), default 3
	// NegativeCache is negative_connection_cache (seconds, default 1): after a failed connect,
	// calls fail at once with realtime.ErrUnavailable for that long instead of dialing.
	NegativeCache time.Duration
}

// Defaults are the settings when the file says nothing.
func Defaults() Settings {
	return Settings{Requirements: RequireWarn, MaxConns: 8, ConnectTimeout: 3 * time.Second, NegativeCache: time.Second}
}

// Set applies key = val when key (lower case) is one of these settings and reports whether it
// was; err says what is wrong with val (the setting is then unchanged).
func (s *Settings) Set(key, val string) (known bool, err error) {
	switch key {
	case "requirements":
		p, ok := Requirements(val)
		if !ok {
			return true, fmt.Errorf("requirements: %q is not one of warn, createclose, createchar", val)
		}
		s.Requirements = p
	case "max_connections":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 10000 {
			return true, fmt.Errorf("max_connections: invalid pool size %q (want 1-10000)", val)
		}
		s.MaxConns = n
	case "connect_timeout":
		d, ok := Seconds(val)
		if !ok || d <= 0 {
			return true, fmt.Errorf("connect_timeout: invalid number of seconds %q", val)
		}
		s.ConnectTimeout = d
	case "negative_connection_cache":
		d, ok := Seconds(val)
		if !ok || d < 0 {
			return true, fmt.Errorf("negative_connection_cache: invalid number of seconds %q", val)
		}
		s.NegativeCache = d
	default:
		return false, nil
	}
	return true, nil
}

// Requirements parses a requirements= policy (any case) shared by every SQL driver that has
// the setting (sqlite3, pgsql, mysql).
func Requirements(val string) (policy string, ok bool) {
	switch p := strings.ToLower(val); p {
	case RequireWarn, RequireCreateClose, RequireCreateChar:
		return p, true
	}
	return "", false
}

// Seconds parses a (possibly fractional) number of seconds, at most a million.
func Seconds(s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > 1e6 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// Uptime formats a duration as Asterisk's status commands do: "3 days, 2 hours, 5 minutes,
// 1 seconds", dropping leading zero units.
func Uptime(d time.Duration) string {
	sec := int64(d / time.Second)
	const (
		minute = 60
		hour   = 60 * minute
		day    = 24 * hour
		year   = 365 * day
	)
	switch {
	case sec > year:
		return fmt.Sprintf("%d years, %d days, %d hours, %d minutes, %d seconds", sec/year, sec%year/day, sec%day/hour, sec%hour/minute, sec%minute)
	case sec > day:
		return fmt.Sprintf("%d days, %d hours, %d minutes, %d seconds", sec/day, sec%day/hour, sec%hour/minute, sec%minute)
	case sec > hour:
		return fmt.Sprintf("%d hours, %d minutes, %d seconds", sec/hour, sec%hour/minute, sec%minute)
	case sec > minute:
		return fmt.Sprintf("%d minutes, %d seconds", sec/minute, sec%minute)
	}
	return fmt.Sprintf("%d seconds", sec)
}
