package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/eid"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// StasisPrefix is the prefix of ARI's own controllable devices.
const StasisPrefix = "Stasis:"

// DeviceState is ARI's DeviceState model.
type DeviceState struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Mailbox is ARI's Mailbox model (urgent_messages is Pleiades').
type Mailbox struct {
	Name           string `json:"name"`
	OldMessages    int    `json:"old_messages"`
	NewMessages    int    `json:"new_messages"`
	UrgentMessages int    `json:"urgent_messages"`
}

// ServerState is one server's state of a device.
type ServerState struct {
	EID   string `json:"eid"`
	Node  string `json:"node,omitempty"` // the member's name when the cluster knows it
	State string `json:"state"`
	Self  bool   `json:"self"`
}

// HintDevice is one device of a hint with its cluster-wide state and every server's state.
type HintDevice struct {
	Name    string        `json:"name"`
	State   string        `json:"state"`
	Servers []ServerState `json:"servers"`
}

// Hint is one dialplan hint with its extension state.
type Hint struct {
	Exten     string       `json:"exten"`
	Context   string       `json:"context"`
	Hint      string       `json:"hint"`
	State     int          `json:"state"`
	StateText string       `json:"state_text"`
	Presence  string       `json:"presence,omitempty"`
	Source    string       `json:"source,omitempty"`
	Watchers  int          `json:"watchers"`
	Devices   []HintDevice `json:"devices"`
}

// ClusterMember is one member as /api/cluster/members and ClusterMember events show it.
type ClusterMember struct {
	Name          string `json:"name"`
	EID           string `json:"eid"`
	Address       string `json:"address"`
	State         string `json:"state"`
	LastHeartbeat string `json:"last_heartbeat,omitempty"` // RFC 3339
	Self          bool   `json:"self"`
	Site          string `json:"site,omitempty"`      // the member's site (cluster.conf site=)
	SiteLink      string `json:"site_link,omitempty"` // "up"/"down": this server's link to that (other) site
}

// RealtimeMapping is one extconfig.conf mapping.
type RealtimeMapping struct {
	Name     string `json:"name"`
	Static   bool   `json:"static"`
	Driver   string `json:"driver"`
	Database string `json:"database"`
	Table    string `json:"table"`
	Priority int    `json:"priority"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// RealtimeStatus is one family's counters.
type RealtimeStatus struct {
	Family      string `json:"family"`
	Queries     uint64 `json:"queries"`
	Errors      uint64 `json:"errors"`
	Failovers   uint64 `json:"failovers"`
	LastError   string `json:"last_error,omitempty"`
	LastErrorAt string `json:"last_error_at,omitempty"`
	// Changes is "live" when a driver of the family listens for database changes now
	// (pgsql listen_channel), else "ttl" (cached objects follow their TTL and explicit
	// invalidations only).
	Changes          string `json:"changes"`
	Notifications    uint64 `json:"notifications"`
	LastNotification string `json:"last_notification,omitempty"`
	Invalidations    uint64 `json:"invalidations"`
	Flushes          uint64 `json:"flushes"`
}

// RealtimeMappings is the body of GET /api/realtime/mappings.
type RealtimeMappings struct {
	Static   []RealtimeMapping `json:"static"`
	Families []RealtimeMapping `json:"families"`
	Status   []RealtimeStatus  `json:"status"`
}

// ---- deviceStates ----

func (s *Server) listDeviceStates(w http.ResponseWriter, r *http.Request) {
	ds := s.deps.DevState
	out := []DeviceState{}
	for _, d := range ds.Devices() {
		out = append(out, DeviceState{Name: d, State: ds.State(d).String()})
	}
	s.writeJSON(w, http.StatusOK, out)
}

// known reports whether some server has a state for device or a provider answers for it.
func (s *Server) known(device string) bool {
	ds := s.deps.DevState
	return len(ds.PerEID(device)) > 0 || ds.State(device) != state.Invalid
}

func (s *Server) getDeviceState(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		writeError(w, r, http.StatusNotFound, "Device name is missing")
		return
	}
	if !s.known(name) {
		writeError(w, r, http.StatusNotFound, "Device not found")
		return
	}
	s.writeJSON(w, http.StatusOK, DeviceState{Name: name, State: s.deps.DevState.State(name).String()})
}

// controlled returns the canonical name of an ARI-controllable device ("Custom:x",
// "Stasis:x") and its kind.
func controlled(name string) (canon string, custom, ok bool) {
	for _, p := range []string{devstate.CustomPrefix, StasisPrefix} {
		if len(name) > len(p) && strings.EqualFold(name[:len(p)], p) {
			return p + name[len(p):], p == devstate.CustomPrefix, true
		}
	}
	return name, false, false
}

func (s *Server) putDeviceState(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		writeError(w, r, http.StatusNotFound, "Device name is missing")
		return
	}
	q := r.URL.Query()
	if !q.Has("deviceState") {
		writeError(w, r, http.StatusBadRequest, "Missing required parameter 'deviceState'")
		return
	}
	st, ok := state.ParseDevice(strings.TrimSpace(q.Get("deviceState")))
	if !ok {
		writeError(w, r, http.StatusBadRequest, fmt.Sprintf("Invalid deviceState %q: want one of NOT_INUSE, INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, RINGINUSE, ONHOLD, UNKNOWN", q.Get("deviceState")))
		return
	}
	canon, custom, ok := controlled(name)
	if !ok {
		writeError(w, r, http.StatusConflict, "Uncontrolled device specified")
		return
	}
	var err error
	if custom {
		err = s.deps.DevState.SetCustom(canon, st.String())
	} else {
		err = s.stasis.set(canon, st)
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteDeviceState(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		writeError(w, r, http.StatusNotFound, "Device name is missing")
		return
	}
	canon, custom, ok := controlled(name)
	if !ok {
		writeError(w, r, http.StatusConflict, "Uncontrolled device specified")
		return
	}
	ds := s.deps.DevState
	if !custom {
		if !s.stasis.remove(canon) {
			writeError(w, r, http.StatusNotFound, "Device not found")
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	local := false
	for _, c := range ds.PerEID(canon) {
		local = local || c.Local
	}
	if !local {
		writeError(w, r, http.StatusNotFound, "Device not found")
		return
	}
	if err := ds.DeleteCustom(canon); err != nil {
		writeError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stasisDevices are ARI's Stasis: devices: their states live here (not in astdb: Pleiades
// does not persist them) and are published as this server's states.
type stasisDevices struct {
	ds *devstate.Engine
	mu sync.Mutex
	m  map[string]state.Device
}

func newStasisDevices(ds *devstate.Engine) *stasisDevices {
	return &stasisDevices{ds: ds, m: map[string]state.Device{}}
}

// DeviceState is the Stasis: provider: a device no server has a state for is UNKNOWN (like a
// never-set Custom device).
func (p *stasisDevices) DeviceState(device string) state.Device {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.m[device]; ok {
		return st
	}
	return state.Unknown
}

func (p *stasisDevices) set(device string, st state.Device) error {
	p.mu.Lock()
	p.m[device] = st
	p.mu.Unlock()
	return p.ds.Set(device, st)
}

func (p *stasisDevices) remove(device string) bool {
	p.mu.Lock()
	_, ok := p.m[device]
	delete(p.m, device)
	p.mu.Unlock()
	if ok {
		p.ds.Forget(device)
	}
	return ok
}

// ---- mailboxes ----

func (s *Server) needMWI(w http.ResponseWriter, r *http.Request) bool {
	if s.deps.MWI == nil {
		writeError(w, r, http.StatusServiceUnavailable, "Mailboxes are not available")
		return false
	}
	return true
}

func mailboxJSON(st mwi.State) Mailbox {
	return Mailbox{Name: st.Mailbox, OldMessages: st.Old, NewMessages: st.New, UrgentMessages: st.Urgent}
}

func (s *Server) listMailboxes(w http.ResponseWriter, r *http.Request) {
	if !s.needMWI(w, r) {
		return
	}
	out := []Mailbox{}
	for _, st := range s.deps.MWI.Mailboxes() {
		out = append(out, mailboxJSON(st))
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) getMailbox(w http.ResponseWriter, r *http.Request) {
	if !s.needMWI(w, r) {
		return
	}
	st, ok := s.deps.MWI.Get(r.PathValue("name"))
	if !ok {
		writeError(w, r, http.StatusNotFound, "Mailbox not found")
		return
	}
	s.writeJSON(w, http.StatusOK, mailboxJSON(st))
}

// count reads a non-negative integer query parameter; problem is the 400 message.
func count(r *http.Request, name string, required bool) (n int, problem string) {
	q := r.URL.Query()
	if !q.Has(name) {
		if required {
			return 0, fmt.Sprintf("Missing required parameter '%s'", name)
		}
		return 0, ""
	}
	n, err := strconv.Atoi(strings.TrimSpace(q.Get(name)))
	if err != nil || n < 0 {
		return 0, fmt.Sprintf("Invalid parameter '%s': %q is not a non-negative integer", name, q.Get(name))
	}
	return n, ""
}

func (s *Server) putMailbox(w http.ResponseWriter, r *http.Request) {
	if !s.needMWI(w, r) {
		return
	}
	name := r.PathValue("name")
	if strings.TrimSpace(name) == "" || strings.HasPrefix(name, "@") {
		writeError(w, r, http.StatusNotFound, "Mailbox not found")
		return
	}
	var counts [3]int
	for i, p := range []string{"oldMessages", "newMessages", "urgentMessages"} {
		n, problem := count(r, p, i < 2)
		if problem != "" {
			writeError(w, r, http.StatusBadRequest, problem)
			return
		}
		counts[i] = n
	}
	if err := s.deps.MWI.Update(name, counts[1], counts[0], counts[2]); err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteMailbox(w http.ResponseWriter, r *http.Request) {
	if !s.needMWI(w, r) {
		return
	}
	had, err := s.deps.MWI.Delete(r.PathValue("name"))
	if err != nil && !errors.Is(err, mwi.ErrNoMailbox) {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if !had {
		writeError(w, r, http.StatusNotFound, "Mailbox not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- asterisk/variable ----

// variableName reads ?variable= (required) and checks that Variables is wired.
func (s *Server) variableName(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.deps.Variables == nil {
		writeError(w, r, http.StatusServiceUnavailable, "Dialplan variables are not available")
		return "", false
	}
	name := r.URL.Query().Get("variable")
	if name == "" {
		writeError(w, r, http.StatusBadRequest, "Variable name is required")
		return "", false
	}
	return name, true
}

// variableError answers a refusal 403 (Pleiades: Asterisk answers 204 and sets nothing).
func variableError(w http.ResponseWriter, r *http.Request, name string, err error) {
	if errors.Is(err, ErrForbidden) {
		writeError(w, r, http.StatusForbidden, fmt.Sprintf("%s escalates privileges: refused to HTTP users (asterisk.conf live_dangerously=no)", name))
		return
	}
	writeError(w, r, http.StatusBadRequest, err.Error())
}

// getVariable is ARI's GET /asterisk/variable?variable=NAME: a global variable, or a
// function's value ("" when it fails, as AMI's Getvar).
func (s *Server) getVariable(w http.ResponseWriter, r *http.Request) {
	name, ok := s.variableName(w, r)
	if !ok {
		return
	}
	v, err := s.deps.Variables.GetVar(name)
	if errors.Is(err, ErrForbidden) {
		variableError(w, r, name, err)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"value": v})
}

// setVariable is ARI's POST /asterisk/variable?variable=NAME&value=V.
func (s *Server) setVariable(w http.ResponseWriter, r *http.Request) {
	name, ok := s.variableName(w, r)
	if !ok {
		return
	}
	if err := s.deps.Variables.SetVar(name, r.URL.Query().Get("value")); err != nil {
		variableError(w, r, name, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- hints, cluster, realtime ----

// nodeNames maps EIDs to member names.
func (s *Server) nodeNames() map[eid.EID]string {
	out := map[eid.EID]string{}
	for _, m := range s.members() {
		out[m.EID] = m.Name
	}
	return out
}

func (s *Server) hintJSON(h hint.State, names map[eid.EID]string) Hint {
	ds := s.deps.DevState
	out := Hint{Exten: h.Exten, Context: h.Context, Hint: h.Devices, State: int(h.State),
		StateText: h.State.String(), Presence: h.Presence, Source: h.Source, Devices: []HintDevice{}}
	if s.deps.Hints != nil {
		out.Watchers = s.deps.Hints.Watchers(h.Exten, h.Context)
	}
	for _, d := range hint.SplitDevices(h.Devices) {
		hd := HintDevice{Name: d, State: ds.State(d).String(), Servers: []ServerState{}}
		for _, c := range ds.PerEID(d) {
			hd.Servers = append(hd.Servers, ServerState{EID: c.EID.String(), Node: names[c.EID], State: c.State.String(), Self: c.Local})
		}
		out.Devices = append(out.Devices, hd)
	}
	return out
}

func (s *Server) listHints(w http.ResponseWriter, r *http.Request) {
	if s.deps.Hints == nil {
		writeError(w, r, http.StatusServiceUnavailable, "Hints are not available")
		return
	}
	ctx := r.URL.Query().Get("context")
	prefix := r.URL.Query().Get("exten")
	names := s.nodeNames()
	out := []Hint{}
	for _, h := range s.deps.Hints.All() {
		if (ctx != "" && h.Context != ctx) || !strings.HasPrefix(h.Exten, prefix) {
			continue
		}
		out = append(out, s.hintJSON(h, names))
	}
	s.writeJSON(w, http.StatusOK, out)
}

// members returns the cluster's members, or this server alone.
func (s *Server) members() []Member {
	if s.deps.Cluster != nil {
		return s.deps.Cluster.Members()
	}
	addr := s.Addr()
	return []Member{{Name: s.deps.NodeName, EID: s.deps.Bus.Local(), Address: addr, State: "up", LastHeartbeat: time.Now(), Self: true}}
}

func memberJSON(m Member) ClusterMember {
	out := ClusterMember{Name: m.Name, EID: m.EID.String(), Address: m.Address, State: m.State, Self: m.Self, Site: m.Site, SiteLink: m.SiteLink}
	if !m.LastHeartbeat.IsZero() {
		out.LastHeartbeat = m.LastHeartbeat.UTC().Format(time.RFC3339Nano)
	}
	return out
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	ms := s.members()
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	out := make([]ClusterMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberJSON(m))
	}
	s.writeJSON(w, http.StatusOK, out)
}

func mappingJSON(ms []realtime.Mapping) []RealtimeMapping {
	out := make([]RealtimeMapping, 0, len(ms))
	for _, m := range ms {
		out = append(out, RealtimeMapping{Name: m.Name, Static: m.Static, Driver: m.Driver, Database: m.Database,
			Table: m.Table, Priority: m.Priority, File: m.File, Line: m.Line})
	}
	return out
}

func (s *Server) listMappings(w http.ResponseWriter, r *http.Request) {
	if s.deps.Realtime == nil {
		writeError(w, r, http.StatusServiceUnavailable, "Realtime is not available")
		return
	}
	static, families := s.deps.Realtime.Mappings()
	out := RealtimeMappings{Static: mappingJSON(static), Families: mappingJSON(families), Status: []RealtimeStatus{}}
	for _, st := range s.deps.Realtime.Status() {
		rs := RealtimeStatus{Family: st.Family, Queries: st.Queries, Errors: st.Errors, Failovers: st.Failovers, LastError: st.LastError}
		if !st.LastErrorAt.IsZero() {
			rs.LastErrorAt = st.LastErrorAt.UTC().Format(time.RFC3339Nano)
		}
		rs.Changes, rs.Notifications, rs.Invalidations, rs.Flushes = "ttl", st.Notifications, st.Invalidations, st.Flushes
		if st.Live {
			rs.Changes = "live"
		}
		if !st.LastNotification.IsZero() {
			rs.LastNotification = st.LastNotification.UTC().Format(time.RFC3339Nano)
		}
		out.Status = append(out.Status, rs)
	}
	s.writeJSON(w, http.StatusOK, out)
}

// invalidateRealtime is POST /api/realtime/invalidate/{family}[/{key}]: "realtime
// invalidate" over HTTP, applied by every server of the cluster. 204 on success, 404 for a
// family extconfig.conf does not map.
func (s *Server) invalidateRealtime(w http.ResponseWriter, r *http.Request) {
	if s.deps.Realtime == nil {
		writeError(w, r, http.StatusServiceUnavailable, "Realtime is not available")
		return
	}
	family, key := r.PathValue("family"), r.PathValue("key")
	if len(family) > MaxNameLength || len(key) > MaxNameLength {
		writeError(w, r, http.StatusBadRequest, fmt.Sprintf("Family or key too long (at most %d bytes)", MaxNameLength))
		return
	}
	if err := s.deps.Realtime.Invalidate(family, key); err != nil {
		writeError(w, r, http.StatusNotFound, "Family not mapped in extconfig.conf")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
