package pgsql

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
)

// ConfigFile is the name of the driver's configuration file (Asterisk's res_config_pgsql).
const ConfigFile = "res_pgsql.conf"

// Requirements policies (requirements= in res_pgsql.conf).
const (
	RequireWarn        = sqlpool.RequireWarn
	RequireCreateClose = sqlpool.RequireCreateClose
	RequireCreateChar  = sqlpool.RequireCreateChar
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

	// requirements= and Pleiades' own pool options: max_connections (per database),
	// connect_timeout, negative_connection_cache.
	sqlpool.Settings
	// OrderMulti is order_multi_row_results_by_initial_column (default yes): LoadMulti orders
	// its rows by the first lookup field.
	OrderMulti bool

	// Pleiades' own options.
	SearchPath    string // search_path: set on every pooled connection; empty: the server's
	ListenChannel string // listen_channel: LISTEN for table:key notifications; empty: off
}

// defaults returns Asterisk's defaults (res_config_pgsql.c parse_config) plus Pleiades' own.
func defaults() Settings {
	return Settings{
		Port:       5432,
		DBName:     "asterisk",
		User:       "asterisk",
		Socket:     "/tmp",
		Settings:   sqlpool.Defaults(),
		OrderMulti: true,
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
		case "order_multi":
			b, ok := conf.ParseBool(val)
			if !ok {
				bad(v, "%s: %q is not a yes/no value", v.Name, val)
				continue
			}
			s.OrderMulti = b
		case "requirements", "max_connections", "connect_timeout", "negative_connection_cache":
			if _, err := s.Set(key, val); err != nil {
				bad(v, "%v", err)
			}
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
