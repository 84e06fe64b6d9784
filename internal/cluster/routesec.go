package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// routeTLSError tells which key of the TLS trio a loading error belongs to.
type routeTLSError struct {
	key string // route_tls_ca, route_tls_cert or route_tls_key
	err error
}

func (e *routeTLSError) Error() string { return e.key + ": " + e.err.Error() }
func (e *routeTLSError) Unwrap() error { return e.err }

// RouteTLSConfig loads the route TLS files into the configuration the embedded server uses
// both to accept routes (a client certificate signed by route_tls_ca is required) and to make
// them (the peer's certificate must be signed by route_tls_ca and name the address routed
// to). It returns nil, nil without route TLS. now is the time certificates must be valid at.
func (c *Config) RouteTLSConfig(now time.Time) (*tls.Config, error) {
	if c.RouteTLSCA == "" && c.RouteTLSCert == "" && c.RouteTLSKey == "" {
		return nil, nil
	}
	caPEM, err := os.ReadFile(c.RouteTLSCA)
	if err != nil {
		return nil, &routeTLSError{"route_tls_ca", err}
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		ca, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, &routeTLSError{"route_tls_ca", fmt.Errorf("%s: %v", c.RouteTLSCA, err)}
		}
		pool.AddCert(ca)
		n++
	}
	if n == 0 {
		return nil, &routeTLSError{"route_tls_ca", fmt.Errorf("%s holds no PEM certificate", c.RouteTLSCA)}
	}
	certPEM, err := os.ReadFile(c.RouteTLSCert)
	if err != nil {
		return nil, &routeTLSError{"route_tls_cert", err}
	}
	keyPEM, err := os.ReadFile(c.RouteTLSKey)
	if err != nil {
		return nil, &routeTLSError{"route_tls_key", err}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &routeTLSError{"route_tls_cert", fmt.Errorf("%s with %s: %v", c.RouteTLSCert, c.RouteTLSKey, err)}
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, &routeTLSError{"route_tls_cert", fmt.Errorf("%s: %v", c.RouteTLSCert, err)}
		}
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, &routeTLSError{"route_tls_cert", fmt.Errorf("%s expired on %s", c.RouteTLSCert, leaf.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(leaf.NotBefore):
		return nil, &routeTLSError{"route_tls_cert", fmt.Errorf("%s is not valid before %s", c.RouteTLSCert, leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	// Every server both accepts routes (server authentication) and makes them (client
	// authentication) with this one certificate.
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
		var inv x509.CertificateInvalidError
		switch {
		case err == nil:
		case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
			return nil, &routeTLSError{"route_tls_cert", fmt.Errorf("%s must allow both server and client authentication (extended key usage serverAuth and clientAuth): every server accepts and makes routes", c.RouteTLSCert)}
		default:
			return nil, &routeTLSError{"route_tls_cert", fmt.Errorf("%s is not signed by the cluster CA %s: %v", c.RouteTLSCert, c.RouteTLSCA, err)}
		}
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// checkRouteSecurity checks the route and client security keys together (ParseConfig).
func (c *Config) checkRouteSecurity(seen map[string]*conf.Variable, bad func(string, int, string, ...any)) {
	if c.Mode != ModeEmbedded {
		return // the keys themselves are already reported as embedded-only
	}
	together := func(keys ...string) bool {
		var set, missing []string
		var first *conf.Variable
		for _, k := range keys {
			if v := seen[k]; v != nil {
				set = append(set, k)
				if first == nil {
					first = v
				}
			} else {
				missing = append(missing, k)
			}
		}
		if len(set) > 0 && len(missing) > 0 {
			bad(first.File, first.Line, "%s go together: %s missing", strings.Join(keys, ", "), strings.Join(missing, ", "))
			return false
		}
		return len(set) == len(keys)
	}
	if together("route_tls_ca", "route_tls_cert", "route_tls_key") && c.RouteTLSCA != "" && c.RouteTLSCert != "" && c.RouteTLSKey != "" {
		if _, err := c.RouteTLSConfig(time.Now()); err != nil {
			var re *routeTLSError
			if errors.As(err, &re) {
				v := seen[re.key]
				bad(v.File, v.Line, "%s", err)
			}
		}
	}
	if seen["listen"] == nil && seen["gateway_listen"] == nil {
		for _, k := range []string{"route_tls_ca", "route_user"} {
			if v := seen[k]; v != nil {
				bad(v.File, v.Line, "%s secures the route port: it needs listen=host:port (or gateway_listen)", v.Name)
			}
		}
	}
	together("route_user", "route_password")
	together("client_user", "client_password")
	if v := seen["client_user"]; v != nil && seen["client_listen"] == nil {
		bad(v.File, v.Line, "client_user protects the client_listen port: it needs client_listen=host:port")
	}
}

// SecurityWarnings returns what Start logs as warnings, at every start: ports reachable from
// other hosts that let anyone in.
func (c *Config) SecurityWarnings() []string {
	if c.Mode != ModeEmbedded {
		return nil
	}
	var w []string
	if c.Listen != "" && !loopbackHost(c.Listen) && c.RouteTLSCA == "" && c.RouteUser == "" {
		w = append(w, fmt.Sprintf("Cluster: listen=%s is reachable from other hosts and its routes are neither encrypted nor authenticated: "+
			"anyone who reaches the port joins the cluster and can publish states every server believes "+
			"(set route_tls_ca, route_tls_cert and route_tls_key, and/or route_user and route_password, in %s)", c.Listen, c.fileName()))
	}
	if c.GatewayListen != "" && !loopbackHost(c.GatewayListen) && c.RouteTLSCA == "" && c.RouteUser == "" {
		w = append(w, fmt.Sprintf("Cluster: gateway_listen=%s is reachable from other hosts and its gateways are neither encrypted nor authenticated: "+
			"anyone who reaches the port joins as a site (set route_tls_* and/or route_user and route_password in %s)", c.GatewayListen, c.fileName()))
	}
	if c.ClientListen != "" && !loopbackHost(c.ClientListen) && c.ClientUser == "" {
		w = append(w, fmt.Sprintf("Cluster: client_listen=%s is reachable from other hosts without a password: "+
			"any NATS client that reaches it can publish states every server believes (set client_user and client_password in %s)",
			c.ClientListen, c.fileName()))
	}
	return w
}

func (c *Config) fileName() string {
	if c.File == "" {
		return "cluster.conf"
	}
	return c.File
}

// loopbackHost reports whether host:port listens on loopback only.
func loopbackHost(hp string) bool {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
