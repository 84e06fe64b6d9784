package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/logesc"
)

// Failed authentications per client address (as the Manager's failed logins): after
// MaxAuthFailures within AuthFailureWindow, every request with credentials from that address
// is answered 429 for AuthBlockTime, even with the right password.
const (
	MaxAuthFailures   = 5
	AuthFailureWindow = 30 * time.Second
	AuthBlockTime     = 30 * time.Second
)

// route describes one URI for "http show status".
type route struct {
	path, description string
}

// uris are the URIs "http show status" lists (Asterisk's "Enabled URI's").
var uris = []route{
	{"/ari/...", "Asterisk RESTful API (deviceStates, mailboxes, events)"},
	{"/api/...", "Pleiades REST API (hints, cluster members, realtime mappings, events)"},
	{"/metrics", "Prometheus Metrics URI"},
	{"/board/...", "BLF board"},
}

// Access levels of a route.
const (
	open     = iota // no credentials
	readable        // any ARI user
	writable        // an ARI user without read_only
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, level int, h http.HandlerFunc) {
		mux.Handle(pattern, s.guard(level, true, h))
	}
	api("GET /ari/deviceStates", readable, s.listDeviceStates)
	api("GET /ari/deviceStates/{name...}", readable, named("Device", s.getDeviceState))
	api("PUT /ari/deviceStates/{name...}", writable, named("Device", s.putDeviceState))
	api("POST /ari/deviceStates/{name...}", writable, named("Device", s.putDeviceState)) // Asterisk takes POST too
	api("DELETE /ari/deviceStates/{name...}", writable, named("Device", s.deleteDeviceState))
	api("GET /ari/mailboxes", readable, s.listMailboxes)
	api("GET /ari/mailboxes/{name...}", readable, named("Mailbox", s.getMailbox))
	api("PUT /ari/mailboxes/{name...}", writable, named("Mailbox", s.putMailbox))
	api("POST /ari/mailboxes/{name...}", writable, named("Mailbox", s.putMailbox))
	api("DELETE /ari/mailboxes/{name...}", writable, named("Mailbox", s.deleteMailbox))
	api("GET /ari/asterisk/variable", readable, s.getVariable)
	api("POST /ari/asterisk/variable", writable, s.setVariable)
	api("GET /ari/events", readable, s.hub.serveARI)
	api("GET /api/events", readable, s.hub.serveAPI)
	api("GET /api/hints", readable, s.listHints)
	api("GET /api/cluster/members", readable, s.listMembers)
	api("GET /api/realtime/mappings", readable, s.listMappings)
	api("POST /api/realtime/invalidate/{family}", writable, s.invalidateRealtime)
	api("POST /api/realtime/invalidate/{family}/{key...}", writable, s.invalidateRealtime)
	api("OPTIONS /ari/", open, s.preflight)
	api("OPTIONS /api/", open, s.preflight)
	mux.Handle("GET /metrics", s.guard(open, false, s.serveMetrics))
	mux.Handle("GET /board/", s.boardHandler())
	mux.Handle("GET /board", http.RedirectHandler("board/", http.StatusMovedPermanently))
	mux.HandleFunc("/ari/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "Resource not found")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "Not Found")
	})
	return mux
}

// MaxNameLength bounds a device or mailbox name in a URI (bytes, after unescaping): longer
// names are answered 400 and never stored (astdb kept 600 KB names before).
const MaxNameLength = 256

// named refuses a {name} longer than MaxNameLength; kind is "Device" or "Mailbox".
func named(kind string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(r.PathValue("name")) > MaxNameLength {
			writeError(w, r, http.StatusBadRequest, fmt.Sprintf("%s name too long (at most %d bytes)", kind, MaxNameLength))
			return
		}
		h(w, r)
	}
}

// guard applies ari.conf: ARI enabled (for the REST routes), CORS, authentication and
// read_only.
func (s *Server) guard(level int, ari bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.cfg.Load()
		s.metrics.requests.WithLabelValues(r.Method).Inc()
		if ari {
			if !st.ariEnabled {
				writeError(w, r, http.StatusNotFound, "ARI is disabled (ari.conf enabled=no)")
				return
			}
			s.cors(w, r, st)
		} else if r.URL.Path == "/metrics" && !st.metricsAuth {
			level = open
		} else if r.URL.Path == "/metrics" {
			level = readable
		}
		if level == open {
			h(w, r)
			return
		}
		u, refused := s.authorize(w, r, st)
		if refused {
			return
		}
		if u == nil {
			// X-Requested-With: the browser's own login dialog is not wanted (the board asks).
			if r.Header.Get("X-Requested-With") == "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+strings.ReplaceAll(st.authRealm, `"`, `'`)+`"`)
			}
			writeError(w, r, http.StatusUnauthorized, "Authentication required")
			return
		}
		if level == writable && u.readOnly {
			writeError(w, r, http.StatusForbidden, "Read-only user")
			return
		}
		h(w, r)
	})
}

// authorize answers a request that needs a user: it refuses it at once (429, refused true)
// when its address is blocked for failed authentications; else it returns the user the
// credentials name, or nil (no credentials, or wrong ones: logged and counted).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, st *settings) (u *user, refused bool) {
	ip := remoteIP(r)
	now := s.now()
	name, pw, given := credentials(r)
	if !given {
		return nil, false
	}
	if s.logins.Blocked(ip, now) {
		w.Header().Set("Retry-After", strconv.Itoa(int(AuthBlockTime/time.Second)))
		writeError(w, r, http.StatusTooManyRequests, "Too many failed authentications from this address; try again later")
		return nil, true
	}
	u = st.users[name]
	if u != nil && u.checkPassword(pw) {
		s.logins.Succeeded(ip)
		return u, false
	}
	s.metrics.authFailures.Inc()
	// manager.c's wording, which fail2ban's asterisk filter bans on; the name is escaped.
	s.log.Info(fmt.Sprintf("%s failed to authenticate as '%s' (HTTP %s %s)", ip, logesc.Escape(name), r.Method, logesc.Escape(r.URL.Path)))
	if s.logins.Failed(ip, now) {
		s.log.Info(fmt.Sprintf("%s: %d failed HTTP authentications within %v; requests from this address refused for %v",
			ip, MaxAuthFailures, AuthFailureWindow, AuthBlockTime))
	}
	return nil, false
}

// credentials returns the user name and password of Basic credentials or of ARI's
// api_key=user:password query parameter; given is false when the request carries neither.
func credentials(r *http.Request) (name, pw string, given bool) {
	if name, pw, ok := r.BasicAuth(); ok {
		return name, pw, true
	}
	if r.Header.Get("Authorization") != "" {
		return "", "", true // not Basic, or malformed: a failure
	}
	key := r.URL.Query().Get("api_key")
	if key == "" {
		return "", "", false
	}
	name, pw, _ = strings.Cut(key, ":")
	return name, pw, true
}

func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// cors answers allowed_origins.
func (s *Server) cors(w http.ResponseWriter, r *http.Request, st *settings) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(st.allowedOrigins) == 0 {
		return
	}
	for _, o := range st.allowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "GET, PUT, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Requested-With")
			h.Add("Vary", "Origin")
			return
		}
	}
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, PUT, POST, DELETE, OPTIONS")
	w.WriteHeader(http.StatusNoContent)
}

// writeJSON writes v with status; pretty (ari.conf) indents it.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if s.cfg.Load().pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		writeError(w, nil, http.StatusInternalServerError, "Error building response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorBody is ARI's error shape.
type errorBody struct {
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	b, _ := json.Marshal(errorBody{msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		h = h[:i]
	}
	return h
}
