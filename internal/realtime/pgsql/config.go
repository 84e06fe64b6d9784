package pgsql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// ConfigFile is the name of the driver's configuration file (Asterisk's res_config_pgsql).
const ConfigFile = "res_pgsql.conf"

// Requirements policies (requirements= in res_pgsql.conf).
const (
	RequireWarn        = "warn"
	RequireCreateClose = "createclose"
	RequireCreateChar  = "createchar"
)

// Settings is the parsed [general] section of res_pgsql.conf. The zero value is not useful:
// use ParseConfig, which fills in Asterisk's defaults.
type Settings struct {
	Host    string // dbhost (alias hostname); empty: connect through the Unix socket in Socket
	Port    int    // dbport (alias port), default 5432
	DBName  string // dbname, default "asterisk"
	User    string // dbuser (alias user), default "asterisk"
	Pass    string // dbpass (alias password)
	AppName string // dbappname (alias appname): PostgreSQL application_name
	Socket  string // dbsock (alias socket): directory of the socket file, default /tmp

	Requirements string // warn (default), createclose, createchar
	// OrderMulti is order_multi_row_results_by_initial_column (default yes): LoadMulti orders
	// its rows by the first lookup field.
	OrderMulti bool

	// Pleiades' own options.
	MaxConns       int           // max_connections: pool size per database, default 8
	ConnectTimeout time.Duration // connect_timeout (seconds), default 3
	// NegativeCache is negative_connection_cache (seconds, default 1): after a failed connect
	// to a database, calls fail at once with ErrUnavailable for that long instead of dialing.
	NegativeCache time.Duration
	SearchPath    string // search_path: set on every pooled connection; empty: the server's
	ListenChannel string // listen_channel: LISTEN for table:key notifications; empty: off
}

// defaults returns Asterisk's defaults (res_config_pgsql.c parse_config) plus Pleiades' own.
func defaults() Settings {
	return Settings{
		Port:           5432,
		DBName:         "asterisk",
		User:           "asterisk",
		Socket:         "/tmp",
		Requirements:   RequireWarn,
		OrderMulti:     true,
		MaxConns:       8,
		ConnectTimeout: 3 * time.Second,
		NegativeCache:  time.Second,
	}
}

// keyAliases maps every accepted key to its canonical name. Asterisk's code reads db*-prefixed
// keys while its sample file shows the short forms; both are accepted.
var keyAliases = map[string]string{
	"dbhost": "dbhost", "hostname": "dbhost",
	"dbport": "dbport", "port": "dbport",
	"dbname": "dbname",
	"dbuser": "dbuser", "user": "dbuser",
	"dbpass": "dbpass", "password": "dbpass",
	"dbappname": "dbappname", "appname": "dbappname",
	"dbsock": "dbsock", "socket": "dbsock",
	"requirements": "requirements",
	"order_multi_row_results_by_initial_column": "order_multi",
	"max_connections":           "max_connections",
	"connect_timeout":           "connect_timeout",
	"negative_connection_cache": "negative_connection_cache",
	"search_path":               "search_path",
	"listen_channel":            "listen_channel",
}

// ParseConfig reads the [general] section of res_pgsql.conf. Every error of the file is
// collected (conf.ErrorList, each "file:line: reason"); unknown keys and categories other than
// [general] are returned as warnings, not errors. A nil cfg yields Asterisk's defaults.
func ParseConfig(cfg *conf.Config) (s Settings, warnings []string, err error) {
	s = defaults()
	if cfg == nil {
		return s, nil, nil
	}
	var errs conf.ErrorList
	file := cfg.File
	if file == "" {
		file = ConfigFile
	}
	for _, cat := range cfg.Categories {
		if cat.Template || strings.EqualFold(cat.Name, "general") {
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%s:%d: category [%s] ignored: res_pgsql.conf has only [general]", where(file, cat.File), cat.Line, cat.Name))
	}
	gen := cfg.Category("general")
	if gen == nil {
		return s, warnings, nil
	}
	bad := func(v *conf.Variable, format string, args ...any) {
		errs = append(errs, &conf.Error{File: where(file, v.File), Line: v.Line, Msg: fmt.Sprintf(format, args...)})
	}
	for _, v := range gen.Vars {
		key, ok := keyAliases[strings.ToLower(strings.TrimSpace(v.Name))]
		if !ok {
			warnings = append(warnings, fmt.Sprintf("%s:%d: unknown option %q ignored", where(file, v.File), v.Line, v.Name))
			continue
		}
		val := strings.TrimSpace(v.Value)
		switch key {
		case "dbhost":
			s.Host = val
		case "dbport":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 65535 {
				bad(v, "%s: invalid port %q (want 1-65535)", v.Name, val)
				continue
			}
			s.Port = n
		case "dbname":
			if val == "" {
				bad(v, "dbname: empty database name")
				continue
			}
			s.DBName = val
		case "dbuser":
			s.User = val
		case "dbpass":
			s.Pass = v.Value // passwords keep their spaces
		case "dbappname":
			if strings.ContainsAny(val, " \t") {
				bad(v, "%s: whitespace is not allowed in an application name", v.Name)
				continue
			}
			s.AppName = val
		case "dbsock":
			s.Socket = val
		case "requirements":
			switch strings.ToLower(val) {
			case RequireWarn, RequireCreateClose, RequireCreateChar:
				s.Requirements = strings.ToLower(val)
			default:
				bad(v, "requirements: %q is not one of warn, createclose, createchar", val)
			}
		case "order_multi":
			b, ok := parseBool(val)
			if !ok {
				bad(v, "%s: %q is not a yes/no value", v.Name, val)
				continue
			}
			s.OrderMulti = b
		case "max_connections":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 10000 {
				bad(v, "max_connections: invalid pool size %q (want 1-10000)", val)
				continue
			}
			s.MaxConns = n
		case "connect_timeout":
			d, ok := parseSeconds(val)
			if !ok || d <= 0 {
				bad(v, "connect_timeout: invalid number of seconds %q", val)
				continue
			}
			s.ConnectTimeout = d
		case "negative_connection_cache":
			d, ok := parseSeconds(val)
			if !ok || d < 0 {
				bad(v, "negative_connection_cache: invalid number of seconds %q", val)
				continue
			}
			s.NegativeCache = d
		case "search_path":
			s.SearchPath = val
		case "listen_channel":
			if len(val) > 63 {
				bad(v, "listen_channel: %q is longer than PostgreSQL's 63-byte identifier limit", val)
				continue
			}
			s.ListenChannel = val
		}
	}
	if len(errs) > 0 {
		return s, warnings, errs
	}
	return s, warnings, nil
}

func where(file, varFile string) string {
	if varFile != "" {
		return varFile
	}
	return file
}

// parseBool is Asterisk's ast_true/ast_false.
func parseBool(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "y", "t", "1", "on":
		return true, true
	case "no", "false", "n", "f", "0", "off":
		return false, true
	}
	return false, false
}

func parseSeconds(s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > 1e6 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// connString builds a libpq keyword/value connection string for database dbname.
func (s *Settings) connString(dbname string) string {
	var b strings.Builder
	kv := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteString("='")
		b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v))
		b.WriteByte('\'')
	}
	host := s.Host
	if host == "" {
		host = s.Socket
	}
	kv("host", host)
	kv("port", strconv.Itoa(s.Port))
	kv("dbname", dbname)
	kv("user", s.User)
	if s.Pass != "" {
		kv("password", s.Pass)
	}
	if s.AppName != "" {
		kv("application_name", s.AppName)
	}
	return b.String()
}

// describe is Asterisk's connection_info for the status command.
func (s *Settings) describe(dbname string) string {
	if s.Host != "" {
		return fmt.Sprintf("%s@%s, port %d", dbname, s.Host, s.Port)
	}
	return fmt.Sprintf("%s on socket file %s/.s.PGSQL.%d", dbname, s.Socket, s.Port)
}
