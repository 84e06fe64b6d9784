package odbc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Defaults of res_odbc.conf (Asterisk's, except where noted in the package documentation).
const (
	defaultMaxConnections   = 1
	defaultSanitySQL        = "select 1"
	defaultConnectTimeout   = 10 * time.Second
	defaultNegativeCache    = 300 * time.Second
	defaultSlowQueryLimit   = 5000 * time.Millisecond
	defaultIsolation        = "read_committed"
	defaultCacheSize        = -1
	maxConnectionsLimit     = 1024
	maxConnectTimeoutSecond = 3600
)

// tristate is a yes/no setting that may also be left to detection.
type tristate int8

const (
	triAuto tristate = iota
	triYes
	triNo
)

func (t tristate) String() string {
	switch t {
	case triYes:
		return "yes"
	case triNo:
		return "no"
	}
	return "auto"
}

// connConfig is one [name] section of res_odbc.conf.
type connConfig struct {
	Name           string
	File           string
	Line           int
	DSN            string // dsn= (a data source in odbc.ini)
	ConnStr        string // connstr= (Pleiades: a full DSN-less connection string)
	Username       string
	Password       string
	PreConnect     bool
	MaxConnections int
	SanitySQL      string
	ConnectTimeout time.Duration
	NegativeCache  time.Duration
	ForceCommit    bool
	Isolation      string
	BackslashEsc   tristate
	Logging        bool
	SlowQueryLimit time.Duration
	CacheType      string
	CacheSize      int
}

// connectString is the string given to SQLDriverConnect.
func (c *connConfig) connectString() string {
	var b strings.Builder
	if c.ConnStr != "" {
		b.WriteString(strings.TrimRight(strings.TrimSpace(c.ConnStr), ";"))
	} else {
		b.WriteString("DSN=")
		b.WriteString(odbcValue(c.DSN))
	}
	if c.Username != "" {
		b.WriteString(";UID=")
		b.WriteString(odbcValue(c.Username))
	}
	if c.Password != "" {
		b.WriteString(";PWD=")
		b.WriteString(odbcValue(c.Password))
	}
	b.WriteString(";")
	return b.String()
}

// display is what "odbc show" prints as DSN: the dsn, or the connection string with its
// password masked.
func (c *connConfig) display() string {
	if c.ConnStr == "" {
		return c.DSN
	}
	return maskPassword(c.ConnStr)
}

// odbcValue quotes a connection-string attribute value when it needs it ({...}, with '}'
// doubled), as SQLDriverConnect expects.
func odbcValue(v string) string {
	if v == "" || strings.ContainsAny(v, ";{}=") || strings.TrimSpace(v) != v {
		return "{" + strings.ReplaceAll(v, "}", "}}") + "}"
	}
	return v
}

// maskPassword replaces the value of PWD= / Password= attributes with "****".
func maskPassword(cs string) string {
	parts := splitConnStr(cs)
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "pwd", "password":
			parts[i] = k + "=****"
		}
	}
	return strings.Join(parts, ";")
}

// splitConnStr splits a connection string on ';' outside {...}.
func splitConnStr(cs string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(cs); i++ {
		switch cs[i] {
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case ';':
			if depth == 0 {
				out = append(out, cs[start:i])
				start = i + 1
			}
		}
	}
	if start < len(cs) {
		out = append(out, cs[start:])
	}
	return out
}

// parsedConfig is the whole of res_odbc.conf.
type parsedConfig struct {
	Conns []*connConfig
	// Env is the [ENV] section: environment variables set before connecting.
	Env []*conf.Variable
	// Disabled names sections with enabled=no.
	Disabled map[string]bool
}

// parseConfig reads res_odbc.conf. Every problem is reported as a *conf.Error naming the file,
// line, section and key; unknown keys are returned as warnings.
func parseConfig(cfg *conf.Config) (*parsedConfig, []string, error) {
	pc := &parsedConfig{Disabled: map[string]bool{}}
	if cfg == nil {
		return pc, nil, nil
	}
	var errs conf.ErrorList
	var warns []string
	seen := map[string]*conf.Category{}
	for _, cat := range cfg.Categories {
		if cat.Template {
			continue
		}
		if strings.EqualFold(cat.Name, "ENV") {
			pc.Env = append(pc.Env, cat.Vars...)
			continue
		}
		key := strings.ToLower(cat.Name)
		if prev := seen[key]; prev != nil {
			errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line,
				Msg: fmt.Sprintf("[%s] defined twice (first at %s:%d)", cat.Name, prev.File, prev.Line)})
			continue
		}
		seen[key] = cat
		c, enabled, w, e := parseSection(cat)
		warns = append(warns, w...)
		errs = append(errs, e...)
		if len(e) > 0 {
			continue
		}
		if !enabled {
			pc.Disabled[key] = true
			continue
		}
		pc.Conns = append(pc.Conns, c)
	}
	if len(errs) > 0 {
		return nil, warns, errs
	}
	return pc, warns, nil
}

func parseSection(cat *conf.Category) (c *connConfig, enabled bool, warns []string, errs conf.ErrorList) {
	c = &connConfig{
		Name: cat.Name, File: cat.File, Line: cat.Line,
		MaxConnections: defaultMaxConnections,
		SanitySQL:      defaultSanitySQL,
		ConnectTimeout: defaultConnectTimeout,
		NegativeCache:  defaultNegativeCache,
		Isolation:      defaultIsolation,
		SlowQueryLimit: defaultSlowQueryLimit,
		CacheType:      "stack",
		CacheSize:      defaultCacheSize,
	}
	enabled = true
	bad := func(v *conf.Variable, format string, args ...any) {
		file, line := v.File, v.Line
		if file == "" {
			file, line = cat.File, cat.Line
		}
		errs = append(errs, &conf.Error{File: file, Line: line,
			Msg: fmt.Sprintf("[%s] %s: ", cat.Name, v.Name) + fmt.Sprintf(format, args...)})
	}
	boolean := func(v *conf.Variable) bool {
		b, ok := conf.ParseBool(strings.TrimSpace(v.Value))
		if !ok {
			bad(v, "%q is not a boolean (yes/no)", v.Value)
		}
		return b
	}
	seconds := func(v *conf.Variable, min, max int) time.Duration {
		n, err := strconv.Atoi(strings.TrimSpace(v.Value))
		if err != nil || n < min || n > max {
			bad(v, "%q is not a whole number of seconds between %d and %d", v.Value, min, max)
			return 0
		}
		return time.Duration(n) * time.Second
	}
	var dsnVar, connVar *conf.Variable
	for _, v := range cat.Vars {
		val := strings.TrimSpace(v.Value)
		switch strings.ToLower(v.Name) {
		case "enabled":
			enabled = boolean(v)
		case "dsn":
			c.DSN, dsnVar = val, v
		case "connstr", "connection_string":
			c.ConnStr, connVar = val, v
		case "username":
			c.Username = val
		case "password":
			c.Password = v.Value
		case "pre-connect":
			c.PreConnect = boolean(v)
		case "max_connections":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > maxConnectionsLimit {
				bad(v, "%q is not a number of connections between 1 and %d", v.Value, maxConnectionsLimit)
			} else {
				c.MaxConnections = n
			}
		case "sanitysql":
			c.SanitySQL = val
		case "connect_timeout":
			if d := seconds(v, 1, maxConnectTimeoutSecond); d > 0 {
				c.ConnectTimeout = d
			}
		case "negative_connection_cache":
			// Asterisk reads this one as a real number of seconds.
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f < 0 || f > 86400*365 || f != f {
				bad(v, "%q is not a number of seconds (0 or more)", v.Value)
			} else {
				c.NegativeCache = time.Duration(f * float64(time.Second))
			}
		case "forcecommit":
			c.ForceCommit = boolean(v)
		case "isolation":
			iso := strings.ToLower(val)
			switch iso {
			case "read_uncommitted", "read_committed", "repeatable_read", "serializable":
				c.Isolation = iso
			default:
				bad(v, "%q is not an isolation level (read_uncommitted, read_committed, repeatable_read, serializable)", v.Value)
			}
		case "backslash_is_escape":
			if strings.EqualFold(val, "auto") {
				c.BackslashEsc = triAuto
			} else if boolean(v) {
				c.BackslashEsc = triYes
			} else {
				c.BackslashEsc = triNo
			}
		case "logging":
			c.Logging = boolean(v)
		case "slow_query_limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				bad(v, "%q is not a whole number of milliseconds (0 or more)", v.Value)
			} else {
				c.SlowQueryLimit = time.Duration(n) * time.Millisecond
			}
		case "cache_type":
			switch strings.ToLower(val) {
			case "stack":
				c.CacheType = "stack"
			case "rr", "roundrobin", "queue":
				c.CacheType = "roundrobin"
			default:
				bad(v, "%q is not a cache type (stack, rr, roundrobin, queue)", v.Value)
			}
		case "cache_size":
			n, err := strconv.Atoi(val)
			if err != nil || n < -1 {
				bad(v, "%q is not a cache size (-1 for unlimited, 0 or more)", v.Value)
			} else {
				c.CacheSize = n
			}
		default:
			warns = append(warns, fmt.Sprintf("%s:%d: [%s] unknown key %q ignored", v.File, v.Line, cat.Name, v.Name))
		}
	}
	if !enabled || len(errs) > 0 {
		return c, enabled, warns, errs
	}
	switch {
	case dsnVar != nil && connVar != nil:
		bad(connVar, "dsn (line %d) and connstr are alternatives: set one", dsnVar.Line)
	case dsnVar == nil && connVar == nil:
		errs = append(errs, &conf.Error{File: cat.File, Line: cat.Line,
			Msg: fmt.Sprintf("[%s] has neither dsn nor connstr", cat.Name)})
	case dsnVar != nil && c.DSN == "":
		bad(dsnVar, "empty data source name")
	case connVar != nil && c.ConnStr == "":
		bad(connVar, "empty connection string")
	}
	return c, true, warns, errs
}

// sortedNames returns map keys in order (for deterministic output).
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
