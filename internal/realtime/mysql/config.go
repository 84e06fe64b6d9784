package mysql

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlpool"
)

// ConfigFile is the name of the driver's configuration file (Asterisk's res_config_mysql).
const ConfigFile = "res_config_mysql.conf"

// Requirements policies (requirements= in every section).
const (
	RequireWarn        = sqlpool.RequireWarn
	RequireCreateClose = sqlpool.RequireCreateClose
	RequireCreateChar  = sqlpool.RequireCreateChar
)

// Section is one [name] section of res_config_mysql.conf: one connection (pool).
type Section struct {
	Name    string // the section name: what extconfig.conf's database argument names
	Host    string // dbhost; empty: the Unix socket in Socket
	Port    int    // dbport, default 3306
	DBName  string // dbname, default "asterisk"
	User    string // dbuser, default "asterisk"
	Pass    string // dbpass
	Socket  string // dbsock, default /tmp/mysql.sock
	Charset string // dbcharset; empty: the server's default is left alone

	// requirements= and Pleiades' own pool options: max_connections, connect_timeout,
	// negative_connection_cache.
	sqlpool.Settings
}

func defaultSection(name string) Section {
	return Section{
		Name:     name,
		Port:     3306,
		DBName:   "asterisk",
		User:     "asterisk",
		Socket:   "/tmp/mysql.sock",
		Settings: sqlpool.Defaults(),
	}
}

// ParseConfig reads every section of res_config_mysql.conf. Errors of the whole file are
// collected (conf.ErrorList, "file:line: reason"); unknown keys are warnings. A nil cfg
// yields no sections.
func ParseConfig(cfg *conf.Config) (sections map[string]Section, warnings []string, err error) {
	sections = map[string]Section{}
	if cfg == nil {
		return sections, nil, nil
	}
	file := cfg.File
	if file == "" {
		file = ConfigFile
	}
	var errs conf.ErrorList
	for _, cat := range cfg.Categories {
		if cat.Template {
			continue
		}
		at := func(f string) string {
			if f != "" {
				return f
			}
			return file
		}
		if strings.Contains(cat.Name, "/") {
			errs = append(errs, &conf.Error{File: at(cat.File), Line: cat.Line, Msg: fmt.Sprintf("[%s]: a section name must not contain '/' (it separates read and write connections)", cat.Name)})
			continue
		}
		if _, dup := sections[cat.Name]; dup {
			warnings = append(warnings, fmt.Sprintf("%s:%d: section [%s] defined again; the later one wins", at(cat.File), cat.Line, cat.Name))
		}
		s := defaultSection(cat.Name)
		bad := func(v *conf.Variable, format string, args ...any) {
			errs = append(errs, &conf.Error{File: at(v.File), Line: v.Line, Msg: fmt.Sprintf("[%s] ", cat.Name) + fmt.Sprintf(format, args...)})
		}
		for _, v := range cat.Vars {
			val := strings.TrimSpace(v.Value)
			switch strings.ToLower(strings.TrimSpace(v.Name)) {
			case "dbhost":
				s.Host = val
			case "dbport":
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 || n > 65535 {
					bad(v, "dbport: invalid port %q (want 1-65535)", val)
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
				s.Pass = v.Value
			case "dbsock":
				s.Socket = val
			case "dbcharset":
				if strings.ContainsFunc(val, func(r rune) bool {
					return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
				}) {
					bad(v, "dbcharset: invalid character set name %q", val)
					continue
				}
				s.Charset = val
			default:
				key := strings.ToLower(strings.TrimSpace(v.Name))
				if known, err := s.Set(key, val); err != nil {
					bad(v, "%v", err)
				} else if !known {
					warnings = append(warnings, fmt.Sprintf("%s:%d: [%s] unknown option %q ignored", at(v.File), v.Line, cat.Name, v.Name))
				}
			}
		}
		sections[cat.Name] = s
	}
	if len(errs) > 0 {
		return sections, warnings, errs
	}
	return sections, warnings, nil
}

// network returns the go-sql-driver network and address.
func (s *Section) network() (network, addr string) {
	if s.Host == "" {
		return "unix", s.Socket
	}
	return "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// describe is Asterisk's connection text for the status command.
func (s *Section) describe() string {
	if s.Host != "" {
		return fmt.Sprintf("%s@%s, port %d", s.DBName, s.Host, s.Port)
	}
	return fmt.Sprintf("%s on socket file %s", s.DBName, s.Socket)
}
