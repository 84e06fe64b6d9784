package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// ConfigFile is Asterisk's res_config_ldap configuration file.
const ConfigFile = "res_ldap.conf"

// GeneralSection is the section holding the connection settings and the attribute mappings of
// every table.
const GeneralSection = "_general"

// Column maps one realtime column to an LDAP attribute.
type Column struct {
	Name string // the realtime column ("secret")
	Attr string // the LDAP attribute ("AstAccountSecret")
}

// Table is one section of res_ldap.conf: the columns a table has, in the order rows give them.
type Table struct {
	Name string
	// Columns in file order; a name mapped twice (fullcontact = AstAccountFullContact,
	// fullcontact = gecos) reads the first attribute that has a value and writes the first.
	Columns []Column
	// Filter is additionalFilter, ANDed into every search.
	Filter string
	// ObjectClasses (objectClass =, Pleiades) are given to entries Store creates; a table
	// without one cannot store.
	ObjectClasses []string
	// RDN (rdn =, Pleiades; default cn) is the attribute naming a stored entry under the base DN.
	RDN string
}

// Settings are the connection settings of [_general].
type Settings struct {
	URLs     []string      // url (several: space separated or repeated; tried in order), or host/port
	Protocol int           // protocol: only 3
	BaseDN   string        // basedn: the default search base
	User     string        // user: bind DN (empty: anonymous)
	Pass     string        // pass
	StartTLS bool          // starttls (Pleiades): StartTLS on ldap:// URLs
	Timeout  time.Duration // timeout (Pleiades): connect and per-request, default 5s
	PoolSize int           // pool_size (Pleiades): connections kept, default 4
	Verify   bool          // tls_verify (Pleiades): default yes
	CAFile   string        // tls_cacert (Pleiades): PEM file of the CAs to trust
	roots    *x509.CertPool
}

// Config is a parsed res_ldap.conf.
type Config struct {
	Settings
	General Table            // the attribute mappings and additionalFilter of [_general]
	Tables  map[string]Table // by lower-case section name
}

func (s *Settings) tlsConfig(host string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: s.roots, InsecureSkipVerify: !s.Verify} //nolint:gosec // tls_verify=no asks for it
}

// ParseConfig reads res_ldap.conf. Every error of the file is collected (file:line); a nil
// cfg gives no configuration (nil).
func ParseConfig(cfg *conf.Config) (*Config, []string, error) {
	if cfg == nil {
		return nil, nil, nil
	}
	c := &Config{
		Settings: Settings{Protocol: 3, Timeout: 5 * time.Second, PoolSize: 4, Verify: true},
		Tables:   map[string]Table{},
	}
	var errs conf.ErrorList
	var warnings []string
	var host string
	port := 0
	var hostAt *conf.Variable
	for _, cat := range cfg.Categories {
		if cat.Template {
			continue
		}
		general := strings.EqualFold(cat.Name, GeneralSection)
		t := Table{Name: cat.Name, RDN: "cn"}
		if general {
			t = c.General
			t.Name, t.RDN = GeneralSection, "cn"
		}
		for _, v := range cat.Vars {
			key := strings.TrimSpace(v.Name)
			val := strings.TrimSpace(v.Value)
			bad := func(format string, args ...any) {
				errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf("[%s] ", cat.Name) + fmt.Sprintf(format, args...)})
			}
			lower := strings.ToLower(key)
			if general {
				handled := true
				switch lower {
				case "url":
					for _, u := range strings.Fields(val) {
						p, err := url.Parse(u)
						if err != nil || (p.Scheme != "ldap" && p.Scheme != "ldaps") || p.Host == "" {
							bad("url: %q is not an ldap:// or ldaps:// URL", u)
							continue
						}
						c.URLs = append(c.URLs, u)
					}
				case "host":
					host, hostAt = val, v
				case "port":
					n, err := strconv.Atoi(val)
					if err != nil || n < 1 || n > 65535 {
						bad("port: invalid port %q", val)
						continue
					}
					port = n
				case "protocol":
					if val != "3" {
						bad("protocol: only LDAP version 3 is supported, not %q", val)
					}
				case "basedn":
					if _, err := goldap.ParseDN(val); err != nil {
						bad("basedn: %v", err)
						continue
					}
					c.BaseDN = val
				case "user":
					c.User = val
				case "pass":
					c.Pass = v.Value
				case "starttls", "tls_verify":
					b := conf.IsTrue(val)
					if !b && !conf.IsFalse(val) {
						bad("%s: %q is not yes or no", key, val)
						continue
					}
					if lower == "starttls" {
						c.StartTLS = b
					} else {
						c.Verify = b
					}
				case "timeout":
					f, err := strconv.ParseFloat(val, 64)
					if err != nil || f <= 0 || f > 600 {
						bad("timeout: %q is not a number of seconds (0-600]", val)
						continue
					}
					c.Timeout = time.Duration(f * float64(time.Second))
				case "pool_size":
					n, err := strconv.Atoi(val)
					if err != nil || n < 1 || n > 256 {
						bad("pool_size: %q is not a number from 1 to 256", val)
						continue
					}
					c.PoolSize = n
				case "tls_cacert":
					pem, err := os.ReadFile(val)
					if err != nil {
						bad("tls_cacert: %v", err)
						continue
					}
					pool := x509.NewCertPool()
					if !pool.AppendCertsFromPEM(pem) {
						bad("tls_cacert: no PEM certificate in %s", val)
						continue
					}
					c.CAFile, c.roots = val, pool
				default:
					handled = false
				}
				if handled {
					continue
				}
			}
			switch lower {
			case "additionalfilter":
				if _, err := goldap.CompileFilter(val); err != nil {
					bad("additionalFilter: %q: %v", val, err)
					continue
				}
				t.Filter = val
			case "objectclass":
				for _, oc := range strings.Split(val, ",") {
					if oc = strings.TrimSpace(oc); oc != "" {
						t.ObjectClasses = append(t.ObjectClasses, oc)
					}
				}
			case "rdn":
				if !validAttr(val) {
					bad("rdn: %q is not an attribute name", val)
					continue
				}
				t.RDN = val
			default:
				if !validColumn(key) {
					bad("%q is not a column name", key)
					continue
				}
				if !validAttr(val) {
					bad("%s: %q is not an LDAP attribute name", key, val)
					continue
				}
				t.Columns = append(t.Columns, Column{Name: key, Attr: val})
			}
		}
		if general {
			c.General = t
			continue
		}
		if _, dup := c.Tables[strings.ToLower(cat.Name)]; dup {
			warnings = append(warnings, fmt.Sprintf("%s:%d: section [%s] defined again; the later one wins", cat.File, cat.Line, cat.Name))
		}
		c.Tables[strings.ToLower(cat.Name)] = t
	}
	if host != "" {
		if port == 0 {
			port = 389
		}
		if len(c.URLs) > 0 {
			warnings = append(warnings, fmt.Sprintf("%s:%d: host ignored: url is set", hostAt.File, hostAt.Line))
		} else {
			c.URLs = []string{"ldap://" + net.JoinHostPort(host, strconv.Itoa(port))}
		}
	}
	if len(c.URLs) == 0 && len(errs) == 0 {
		errs = append(errs, &conf.Error{File: cfg.File, Line: 1, Msg: "[_general] needs url (or host)"})
	}
	if len(errs) > 0 {
		return nil, warnings, errs
	}
	return c, warnings, nil
}

func validColumn(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validAttr accepts an attribute description's name: a letter, then letters, digits and '-'
// (RFC 4512 descr), or a numeric OID.
func validAttr(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		for i := 0; i < len(s); i++ {
			if !(s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}
