package curl

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// ConfigFile is the file Asterisk's res_config_curl reads its CURLOPT settings from.
const ConfigFile = "res_curl.conf"

// Settings are the [globals] options of res_curl.conf that apply to every request.
type Settings struct {
	ConnTimeout time.Duration // conntimeout: connecting (TCP and TLS), default 5s
	HTTPTimeout time.Duration // httptimeout: a whole request, default 10s
	VerifyPeer  bool          // ssl_verifypeer, default yes
	CAFile      string        // cainfo (Pleiades): PEM file of the CAs to trust instead of the system's
	UserAgent   string        // useragent, default "Pleiades res_config_curl"
	UserPwd     string        // userpwd: user:password sent as HTTP basic authentication
	MaxConns    int           // maxconns (Pleiades): idle keep-alive connections kept per host, default 16
	roots       *x509.CertPool
}

// Defaults are the settings without res_curl.conf.
func Defaults() Settings {
	return Settings{ConnTimeout: 5 * time.Second, HTTPTimeout: 10 * time.Second, VerifyPeer: true,
		UserAgent: "Pleiades res_config_curl", MaxConns: 16}
}

// ParseConfig reads res_curl.conf: the first of [globals], [global] or [general] (as Asterisk),
// each key written plainly or as CURLOPT(key). Every bad value of the file is reported at once
// (file:line); unknown keys are warnings. A nil cfg gives the defaults.
func ParseConfig(cfg *conf.Config) (Settings, []string, error) {
	s := Defaults()
	if cfg == nil {
		return s, nil, nil
	}
	var cat *conf.Category
	for _, name := range []string{"globals", "global", "general"} {
		if cs := cfg.CategoriesNamed(name); len(cs) > 0 {
			cat = cs[0]
			break
		}
	}
	if cat == nil {
		return s, []string{fmt.Sprintf("%s: [globals] not found; using the defaults", cfg.File)}, nil
	}
	var errs conf.ErrorList
	var warnings []string
	for _, v := range cat.Vars {
		key := strings.ToLower(strings.TrimSpace(v.Name))
		if strings.HasPrefix(key, "curlopt(") && strings.HasSuffix(key, ")") {
			key = key[len("curlopt(") : len(key)-1]
		}
		val := strings.TrimSpace(v.Value)
		bad := func(format string, args ...any) {
			errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf(format, args...)})
		}
		seconds := func() (time.Duration, bool) {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f <= 0 || f > 3600 {
				bad("%s: %q is not a number of seconds (0-3600]", v.Name, val)
				return 0, false
			}
			return time.Duration(f * float64(time.Second)), true
		}
		switch key {
		case "conntimeout":
			if d, ok := seconds(); ok {
				s.ConnTimeout = d
			}
		case "httptimeout":
			if d, ok := seconds(); ok {
				s.HTTPTimeout = d
			}
		case "ssl_verifypeer":
			switch {
			case conf.IsTrue(val):
				s.VerifyPeer = true
			case conf.IsFalse(val):
				s.VerifyPeer = false
			default:
				bad("%s: %q is not yes or no", v.Name, val)
			}
		case "cainfo":
			pem, err := os.ReadFile(val)
			if err != nil {
				bad("%s: %v", v.Name, err)
				continue
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				bad("%s: no PEM certificate in %s", v.Name, val)
				continue
			}
			s.CAFile, s.roots = val, pool
		case "useragent":
			s.UserAgent = val
		case "userpwd":
			if !strings.Contains(val, ":") {
				bad("%s: want user:password", v.Name)
				continue
			}
			s.UserPwd = val
		case "maxconns":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1024 {
				bad("%s: %q is not a number from 1 to 1024", v.Name, val)
				continue
			}
			s.MaxConns = n
		default:
			warnings = append(warnings, fmt.Sprintf("%s:%d: unknown option %q ignored", v.File, v.Line, v.Name))
		}
	}
	if len(errs) > 0 {
		return s, warnings, errs
	}
	return s, warnings, nil
}

func (s *Settings) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.roots, InsecureSkipVerify: !s.VerifyPeer} //nolint:gosec // ssl_verifypeer=no asks for it
}
