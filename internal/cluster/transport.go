package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/pleiades-pbx/pleiades/internal/logger"
)

// connect starts the embedded server (embedded mode) and connects nats.go.
func (c *Cluster) connect(ctx context.Context) error {
	opts := []nats.Option{
		nats.Name("pleiades " + c.node),
		nats.NoEcho(), // our own messages never come back (a duplicate EID still does)
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(8 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if c.state.Load() == stateRunning {
				c.log.Warn(fmt.Sprintf("Cluster: lost the connection to NATS: %v", err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.log.Info(fmt.Sprintf("Cluster: reconnected to NATS at %s", nc.ConnectedUrlRedacted()))
			c.fastTill.Store(time.Now().Add(fastWindow).UnixNano())
			c.kickHeartbeat()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if err == nats.ErrSlowConsumer {
				c.stats.slowConsumer.Add(1)
			}
			c.log.Warn(fmt.Sprintf("Cluster: NATS error: %v", err))
		}),
	}
	if c.cfg.Mode == ModeExternal {
		if c.cfg.TLSCA != "" {
			opts = append(opts, nats.RootCAs(c.cfg.TLSCA))
		}
		if c.cfg.TLSCert != "" {
			opts = append(opts, nats.ClientCert(c.cfg.TLSCert, c.cfg.TLSKey))
		}
		if c.cfg.Credentials != "" {
			opts = append(opts, nats.UserCredentials(c.cfg.Credentials))
		}
		// A PBX must boot while NATS is down: keep trying in the background.
		opts = append(opts, nats.RetryOnFailedConnect(true))
		nc, err := nats.Connect(strings.Join(c.cfg.NATSURLs, ","), opts...)
		if err != nil {
			return fmt.Errorf("cluster: connecting to %s: %w", strings.Join(c.cfg.NATSURLs, ","), err)
		}
		c.nc = nc
		if !nc.IsConnected() {
			c.log.Warn(fmt.Sprintf("Cluster: NATS at %s is not reachable yet; retrying in the background", strings.Join(c.cfg.NATSURLs, ",")))
		}
		c.addrs = hostAddrs()
		return nil
	}

	so := &server.Options{
		ServerName: c.node,
		NoSigs:     true,
		NoLog:      true,
		// Plain core NATS unless jetstream=yes (voicemail storage=nats); no system account
		// configured (nats-server's default one serves JetStream's clustering).
	}
	if c.cfg.JetStream {
		so.JetStream = true
		so.StoreDir = c.cfg.JetStreamDir
		if so.StoreDir == "" {
			so.StoreDir = filepath.Join("var", "pleiades", "nats")
		}
	}
	switch {
	case c.cfg.ClientListen != "":
		host, port := splitHP(c.cfg.ClientListen)
		so.Host, so.Port = host, port
	case c.cfg.Listen != "" || c.cfg.GatewayListen != "":
		// nats-server starts routing only once its client listener is up, so DontListen
		// cannot be used with routes or gateways: take a random loopback port nobody is
		// told about (this process connects in-process anyway).
		so.Host, so.Port = "127.0.0.1", server.RANDOM_PORT
	default:
		so.DontListen = true
	}
	if !so.DontListen {
		// The client port (client_listen, or the hidden loopback one routing needs) never
		// takes an anonymous connection unless the operator opened client_listen without
		// client_user: this process's own connection uses a random password.
		if c.cfg.ClientListen == "" || c.cfg.ClientUser != "" {
			// An nkey made at each start: nothing secret is stored, and nats-server has no
			// plaintext password to warn about.
			kp, err := nkeys.CreateUser()
			if err != nil {
				return fmt.Errorf("cluster: making the internal NATS key: %w", err)
			}
			pub, _ := kp.PublicKey()
			so.Nkeys = []*server.NkeyUser{{Nkey: pub}}
			opts = append(opts, nats.Nkey(pub, kp.Sign))
			if c.cfg.ClientUser != "" {
				// Hashed in memory (at the lowest cost: the clear text is in cluster.conf
				// anyway) so that nats-server compares with bcrypt and does not warn
				// about a plaintext password at every start.
				h, err := bcrypt.GenerateFromPassword([]byte(c.cfg.ClientPassword), bcrypt.MinCost)
				if err != nil {
					return fmt.Errorf("cluster: client_password: %w", err)
				}
				so.Users = append(so.Users, &server.User{Username: c.cfg.ClientUser, Password: string(h)})
			}
		}
	}
	tc, err := c.cfg.RouteTLSConfig(time.Now())
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if c.cfg.Listen != "" {
		host, port := splitHP(c.cfg.Listen)
		so.Cluster = server.ClusterOpts{Name: c.cfg.ClusterName, Host: host, Port: port,
			NoAdvertise: c.cfg.ClientListen == "",
			Username:    c.cfg.RouteUser, Password: c.cfg.RoutePassword}
		if tc != nil {
			so.Cluster.TLSConfig = tc
			so.Cluster.TLSTimeout = routeTLSTimeout.Seconds()
		}
		routes := c.cfg.Routes
		if c.cfg.JetStream && len(routes) == 0 && port > 0 {
			// A JetStream cluster needs routes configured on every server, the first one
			// too: it routes to itself (nats-server drops a route to itself), so a seed
			// server without routes= still starts JetStream.
			routes = []string{net.JoinHostPort(selfHost(host), strconv.Itoa(port))}
		}
		for _, r := range routes {
			u := &url.URL{Scheme: "nats-route", Host: r}
			if c.cfg.RouteUser != "" {
				u.User = url.UserPassword(c.cfg.RouteUser, c.cfg.RoutePassword)
			}
			so.Routes = append(so.Routes, u)
		}
	}
	c.cfg.gatewayOpts(so, tc)
	for _, w := range c.cfg.SecurityWarnings() {
		c.log.Warn(w)
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
	nl := &natsLogger{log: c.log}
	srv.SetLoggerV2(nl, false, false, false)
	srv.Start()
	c.srv = srv
	deadline := time.Now().Add(10 * time.Second)
	if dl, ok := ctx.Deadline(); ok {
		deadline = dl
	}
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		if f := nl.fatal.Load(); f != nil {
			return fmt.Errorf("cluster: embedded NATS server (listen=%s client_listen=%s): %s", c.cfg.Listen, c.cfg.ClientListen, *f)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: embedded NATS server did not start (listen=%s client_listen=%s)", c.cfg.Listen, c.cfg.ClientListen)
		}
	}
	opts = append(opts, nats.InProcessServer(srv), nats.IgnoreDiscoveredServers(), nats.DontRandomize())
	nc, err := nats.Connect(nats.DefaultURL, opts...)
	if err != nil {
		return fmt.Errorf("cluster: connecting to the embedded NATS server: %w", err)
	}
	c.nc = nc
	if a := srv.ClusterAddr(); a != nil {
		c.addrs = append(c.addrs, announceAddr(c.cfg.Listen, a))
	}
	return nil
}

// selfHost is the address this server reaches its own listener on.
func selfHost(host string) string {
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1"
	}
	return host
}

// routeTLSTimeout bounds a route's TLS handshake (a WAN round trip or two).
const routeTLSTimeout = 5 * time.Second

// closeTransport closes the connection and the embedded server.
func (c *Cluster) closeTransport() {
	if c.nc != nil {
		c.nc.Close()
	}
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
}

func (c *Cluster) transportSummary() string {
	if c.cfg.Mode == ModeExternal {
		return " using NATS at " + strings.Join(c.cfg.NATSURLs, ",")
	}
	var s []string
	if len(c.addrs) > 0 {
		s = append(s, "routes on "+strings.Join(c.addrs, ","))
	}
	if len(c.cfg.Routes) > 0 {
		s = append(s, "routing to "+strings.Join(c.cfg.Routes, ","))
	}
	if c.srv != nil && c.cfg.ClientListen != "" {
		if a, ok := c.srv.Addr().(*net.TCPAddr); ok {
			s = append(s, "NATS clients on "+a.String())
		}
	}
	if len(s) == 0 {
		return " (a cluster of one: no listen=)"
	}
	return ", " + strings.Join(s, ", ")
}

// Conn returns the connection to NATS (nil before Start): other modules use it for what
// the cluster does not carry itself (the voicemail messages in JetStream).
func (c *Cluster) Conn() *nats.Conn { return c.nc }

// RouteAddr returns the address the embedded server accepts routes on (nil without listen=
// or in external mode); with listen=host:0 it tells the port picked.
func (c *Cluster) RouteAddr() *net.TCPAddr {
	if c.srv == nil {
		return nil
	}
	return c.srv.ClusterAddr()
}

// ClientAddr returns the embedded server's NATS client address (nil without client_listen=).
func (c *Cluster) ClientAddr() *net.TCPAddr {
	if c.srv == nil || c.cfg.ClientListen == "" {
		return nil
	}
	a, _ := c.srv.Addr().(*net.TCPAddr)
	return a
}

// splitHP splits a validated host:port; port 0 becomes nats-server's "random port" (-1).
func splitHP(hp string) (string, int) {
	host, port, _ := net.SplitHostPort(hp)
	n, _ := strconv.Atoi(port)
	if n == 0 {
		n = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, n
}

// announceAddr is the route address shown to others: the configured host (or this host's
// first address when listening on all) with the port actually bound.
func announceAddr(listen string, a *net.TCPAddr) string {
	host, _, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h := hostAddrs(); len(h) > 0 {
			host = h[0]
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// hostAddrs returns this host's first non-loopback unicast address, if any.
func hostAddrs() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.IsGlobalUnicast() {
			return []string{ipn.IP.String()}
		}
	}
	return nil
}

// natsLogger sends the embedded server's messages to the Pleiades log: errors and warnings as
// such, notices (route and client connections) at verbose 3, debug at debug 2.
type natsLogger struct {
	log   *slog.Logger
	fatal atomic.Pointer[string] // the first fatal error (a port in use), to fail Start with
}

func (l *natsLogger) Noticef(format string, v ...any) {
	l.log.Log(context.Background(), logger.Verbose(3), "NATS: "+fmt.Sprintf(format, v...))
}
func (l *natsLogger) Warnf(format string, v ...any) {
	l.log.Warn("NATS: " + fmt.Sprintf(format, v...))
}
func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.fatal.CompareAndSwap(nil, &msg)
	l.log.Error("NATS: " + msg)
}
func (l *natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	// A route to a member that is not up (yet, or any more) is retried every second and is
	// what membership reports: a notice at verbose 3, not an error on every attempt.
	if strings.HasPrefix(msg, "Error trying to connect to route") {
		l.log.Log(context.Background(), logger.Verbose(3), "NATS: "+msg)
		return
	}
	if from, why, ok := refusedRoute(msg); ok {
		l.log.Error(fmt.Sprintf("Cluster: refused a connection from %s: %s", from, why))
		return
	}
	l.log.Error("NATS: " + msg)
}

// refusedRoute recognises nats-server's messages about a route (or client) turned away and
// says why in the operator's terms.
func refusedRoute(msg string) (from, why string, ok bool) {
	// "<addr> - rid:<n> - <what>" (routes) or "<addr> - cid:<n> - <what>" (clients).
	parts := strings.SplitN(msg, " - ", 3)
	if len(parts) != 3 {
		return "", "", false
	}
	var kind string
	switch {
	case strings.HasPrefix(parts[1], "rid:"):
		kind = "route"
	case strings.HasPrefix(parts[1], "gid:"):
		kind = "gateway"
	case strings.HasPrefix(parts[1], "cid:"):
		kind = "client"
	default:
		return "", "", false
	}
	what := parts[2]
	switch {
	case strings.HasPrefix(what, "authentication error") && kind == "client":
		return parts[0], "NATS client authentication failed (wrong or missing client_user/client_password)", true
	case strings.HasPrefix(what, "authentication error"):
		return parts[0], kind + " authentication failed (wrong or missing route_user/route_password)", true
	case strings.HasPrefix(what, "TLS route handshake error"), strings.HasPrefix(what, "TLS gateway handshake error"):
		_, detail, _ := strings.Cut(what, "handshake error: ")
		return parts[0], kind + " TLS handshake failed (" + detail + ")", true
	}
	return "", "", false
}

func (l *natsLogger) Debugf(format string, v ...any) {
	l.log.Log(context.Background(), logger.DebugLevel(2), "NATS: "+fmt.Sprintf(format, v...))
}
func (l *natsLogger) Tracef(format string, v ...any) {
	l.log.Log(context.Background(), logger.DebugLevel(5), "NATS: "+fmt.Sprintf(format, v...))
}
