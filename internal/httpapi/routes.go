package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
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
	api("GET /ari/deviceStates/{name...}", readable, s.getDeviceState)
	api("PUT /ari/deviceStates/{name...}", writable, s.putDeviceState)
	api("POST /ari/deviceStates/{name...}", writable, s.putDeviceState) // Asterisk takes POST too
	api("DELETE /ari/deviceStates/{name...}", writable, s.deleteDeviceState)
	api("GET /ari/mailboxes", readable, s.listMailboxes)
	api("GET /ari/mailboxes/{name...}", readable, s.getMailbox)
	api("PUT /ari/mailboxes/{name...}", writable, s.putMailbox)
	api("POST /ari/mailboxes/{name...}", writable, s.putMailbox)
	api("DELETE /ari/mailboxes/{name...}", writable, s.deleteMailbox)
	api("GET /ari/events", readable, s.hub.serveARI)
	api("GET /api/events", readable, s.hub.serveAPI)
	api("GET /api/hints", readable, s.listHints)
	api("GET /api/cluster/members", readable, s.listMembers)
	api("GET /api/realtime/mappings", readable, s.listMappings)
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
		u := s.authenticate(r, st)
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

// authenticate returns the user named by Basic credentials or by ARI's api_key=user:password
// query parameter, or nil.
func (s *Server) authenticate(r *http.Request, st *settings) *user {
	name, pw, ok := r.BasicAuth()
	if !ok {
		key := r.URL.Query().Get("api_key")
		if key == "" {
			return nil
		}
		name, pw, ok = strings.Cut(key, ":")
		if !ok {
			return nil
		}
	}
	u := st.users[name]
	if u == nil || !u.checkPassword(pw) {
		s.metrics.authFailures.Inc()
		return nil
	}
	return u
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
