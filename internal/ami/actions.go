package ami

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/callerid"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/logesc"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// request is one action being answered.
type request struct {
	s         *session
	p         *Packet
	id        string
	w         builder
	close     bool   // end the session after the response is written
	after     func() // run after the response was queued
	login     bool   // a successful Login: queue the response and join the published set
	wasAuthed bool
}

func (r *request) head(resp string) {
	r.w.kv("Response", resp)
	if r.id != "" {
		r.w.kv("ActionID", r.id)
	}
}

// ack is astman_send_ack: Success with an optional Message.
func (r *request) ack(msg string) {
	r.head("Success")
	if msg != "" {
		r.w.kv("Message", msg)
	}
	r.w.end()
}

// fail is astman_send_error.
func (r *request) fail(msg string) {
	r.head("Error")
	r.w.kv("Message", msg)
	r.w.end()
}

// listStart is astman_send_listack(..., "start").
func (r *request) listStart(msg string) {
	r.head("Success")
	r.w.kv("EventList", "start")
	r.w.kv("Message", msg)
	r.w.end()
}

// listItemLast writes "Event: name", fields, then the ActionID (the order of Asterisk's
// MWIGet and DBGet* list items).
func (r *request) listItemLast(name string, fields ...Field) {
	r.w.kv("Event", name)
	for _, f := range fields {
		r.w.kv(f.Key, f.Value)
	}
	if r.id != "" {
		r.w.kv("ActionID", r.id)
	}
	r.w.end()
}

// listItem writes "Event: name", the ActionID, then fields.
func (r *request) listItem(name string, fields ...Field) {
	r.w.kv("Event", name)
	if r.id != "" {
		r.w.kv("ActionID", r.id)
	}
	for _, f := range fields {
		r.w.kv(f.Key, f.Value)
	}
	r.w.end()
}

// listComplete is astman_send_list_complete.
func (r *request) listComplete(name string, n int) {
	r.w.kv("Event", name)
	if r.id != "" {
		r.w.kv("ActionID", r.id)
	}
	r.w.kv("EventList", "Complete")
	r.w.kvInt("ListItems", n)
	r.w.end()
}

// action is one registered manager action.
type action struct {
	name      string
	authority Class // write classes needed (any one of them); 0 = anyone logged in
	synopsis  string
	fn        func(*Server, *request)
}

var actions = map[string]*action{}
var actionOrder []*action // sorted by name, as Asterisk keeps its list

func init() {
	for _, a := range []*action{
		{"Login", 0, "Login Manager.", (*Server).actLogin},
		{"Logoff", 0, "Logoff Manager.", (*Server).actLogoff},
		{"Challenge", 0, "Generate Challenge for MD5 Auth.", (*Server).actChallenge},
		{"Ping", 0, "Keepalive command.", (*Server).actPing},
		{"Events", 0, "Control Event Flow.", (*Server).actEvents},
		{"ListCommands", 0, "List available manager commands.", (*Server).actListCommands},
		{"Command", ClassCommand, "Execute Asterisk CLI Command.", (*Server).actCommand},
		{"Reload", ClassConfig | ClassSystem, "Send a reload event.", (*Server).actReload},
		{"CoreSettings", ClassSystem | ClassReporting, "Show PBX core settings (version etc).", (*Server).actCoreSettings},
		{"CoreStatus", ClassSystem | ClassReporting, "Show PBX core status variables.", (*Server).actCoreStatus},
		{"ExtensionState", ClassCall | ClassReporting, "Check Extension Status.", (*Server).actExtensionState},
		{"ExtensionStateList", ClassCall | ClassReporting, "List the current known extension states.", (*Server).actExtensionStateList},
		{"DeviceStateList", ClassCall | ClassReporting, "List the current known device states.", (*Server).actDeviceStateList},
		{"PresenceState", ClassCall | ClassReporting, "Check Presence State", (*Server).actPresenceState},
		{"MailboxCount", ClassCall | ClassReporting, "Check Mailbox Message Count.", (*Server).actMailboxCount},
		{"MailboxStatus", ClassCall | ClassReporting, "Check mailbox.", (*Server).actMailboxStatus},
		{"MWIGet", ClassCall | ClassReporting, "Get selected mailboxes with message counts.", (*Server).actMWIGet},
		{"MWIUpdate", ClassCall, "Update the mailbox message counts.", (*Server).actMWIUpdate},
		{"MWIDelete", ClassCall, "Delete selected mailboxes.", (*Server).actMWIDelete},
		{"DBGet", ClassSystem | ClassReporting, "Get DB Entry.", (*Server).actDBGet},
		{"DBGetTree", ClassSystem | ClassReporting, "Get DB entries, optionally at a particular family/key", (*Server).actDBGetTree},
		{"DBPut", ClassSystem, "Put DB entry.", (*Server).actDBPut},
		{"DBDel", ClassSystem, "Delete DB entry.", (*Server).actDBDel},
		{"DBDelTree", ClassSystem, "Delete DB Tree.", (*Server).actDBDelTree},
		{"Getvar", ClassCall | ClassReporting, "Gets a channel variable or function value.", (*Server).actGetvar},
		{"Setvar", ClassCall, "Sets a channel variable or function value.", (*Server).actSetvar},
		{"Originate", ClassOriginate, "Originate a call.", (*Server).actOriginate},
		{"UserEvent", ClassUser, "Send an arbitrary event.", (*Server).actUserEvent},
		{"RealtimeInvalidate", ClassConfig | ClassSystem, "Drop cached realtime objects on every server.", (*Server).actRealtimeInvalidate},
	} {
		actions[strings.ToLower(a.name)] = a
		actionOrder = append(actionOrder, a)
	}
	sort.Slice(actionOrder, func(i, j int) bool {
		return strings.ToLower(actionOrder[i].name) < strings.ToLower(actionOrder[j].name)
	})
}

// then adds fn to what runs once the response was queued. The security events about a
// request go out that way, after its response, as Asterisk's reach the session after the
// action's answer.
func (r *request) then(fn func()) {
	prev := r.after
	if prev == nil {
		r.after = fn
		return
	}
	r.after = func() { prev(); fn() }
}

// process answers one request (Asterisk's process_message).
func (s *Server) process(r *request) {
	ss := r.s
	r.wasAuthed = ss.authed.Load()
	name := r.p.GetNonEmpty("Action")
	if name == "" {
		r.then(func() { s.securityEvent(ss, "RequestBadFormat", "Error", 1, ss.username, requestType("NONE")) })
		r.fail("Missing action in request")
		r.refusedBeforeLogin()
		return
	}
	lname := strings.ToLower(name)
	if !r.wasAuthed && lname != "login" && lname != "logoff" && lname != "challenge" {
		r.then(func() { s.securityEvent(ss, "RequestNotAllowed", "Error", 1, "", requestType(name)) })
		r.fail("Permission denied")
		r.refusedBeforeLogin()
		return
	}
	a := actions[lname]
	if x := s.extAction(lname); a == nil && x != nil {
		a = &action{name: x.Name, authority: x.Authority, synopsis: x.Synopsis, fn: func(s *Server, r *request) { s.runExt(r, x) }}
	}
	if a == nil {
		r.then(func() { s.securityEvent(ss, "RequestBadFormat", "Error", 1, ss.username, requestType(name)) })
		r.fail("Invalid/unknown command: " + name + ". Use Action: ListCommands to show available commands.")
		return
	}
	if a.authority != 0 && ss.writePerm&a.authority == 0 {
		r.then(func() { s.securityEvent(ss, "RequestNotAllowed", "Error", 1, ss.username, requestType(name)) })
		r.fail("Permission denied")
		return
	}
	a.fn(s, r)
}

// refusedBeforeLogin counts a refused request of a connection that has not logged in; the
// MaxRefusedBeforeLogin-th closes the connection once its answer is written.
func (r *request) refusedBeforeLogin() {
	ss := r.s
	if r.wasAuthed || ss.authed.Load() {
		return
	}
	ss.refused++
	if ss.refused < MaxRefusedBeforeLogin {
		return
	}
	ss.srv.preLoginCut.Add(1)
	ss.srv.log.Info(fmt.Sprintf("Manager connection from %s closed: %d requests refused before login", ss.remote.Addr(), ss.refused))
	r.close = true
	r.then(func() { ss.finish("refused before login") })
}

func (s *Server) actLogoff(r *request) {
	r.head("Goodbye")
	r.w.kv("Message", "Thanks for all the fish.")
	r.w.end()
	r.close = true
	r.after = func() { r.s.finish("logoff") }
}

func (s *Server) actChallenge(r *request) {
	if !strings.EqualFold(r.p.Get("AuthType"), "MD5") {
		r.fail("Must specify AuthType")
		return
	}
	ss := r.s
	ss.mu.Lock()
	if ss.challenge == "" {
		var b [4]byte
		rand.Read(b[:])
		ss.challenge = strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])&0x7fffffff), 10)
	}
	ch := ss.challenge
	ss.mu.Unlock()
	r.head("Success")
	r.w.kv("Challenge", ch)
	r.w.end()
}

func (s *Server) actLogin(r *request) {
	ss := r.s
	if r.wasAuthed {
		r.ack("Already authenticated")
		return
	}
	username := r.p.Get("Username")
	quoted := logesc.Escape(username) // for log lines: the name is the client's text
	ip := ss.remote.Addr()
	failed := func() {
		if s.loginFailed(ip) {
			s.log.Info(fmt.Sprintf("%s: %d failed manager logins within %v; logins from this address refused for %v",
				ip, MaxLoginFailures, LoginFailureWindow, LoginBlockTime))
		}
		if s.failDelay > 0 {
			select {
			case <-time.After(s.failDelay):
			case <-s.ctx.Done():
			}
		}
		r.fail("Authentication failed")
		r.close = true
		r.after = func() { ss.finish("authentication failed") }
	}
	if s.loginBlocked(ip) {
		s.log.Info(fmt.Sprintf("%s: manager login as '%s' refused: too many failed logins", ip, quoted))
		s.failedLogins.Add(1)
		if s.failDelay > 0 {
			time.Sleep(s.failDelay)
		}
		r.fail("Authentication failed")
		r.close = true
		r.after = func() { ss.finish("authentication failed") }
		return
	}
	if username == "" {
		failed()
		return
	}
	u, err := s.findUser(s.ctx, username)
	if err != nil {
		if !errors.Is(err, ErrUserNotFound) {
			s.log.Warn(fmt.Sprintf("Manager user lookup for '%s' failed: %s", quoted, logesc.Escape(err.Error())))
		}
		s.securityEvent(ss, "InvalidAccountID", "Error", 1, username)
		s.log.Info(fmt.Sprintf("%s tried to authenticate with nonexistent user '%s'", ip, quoted))
		s.log.Info(fmt.Sprintf("%s failed to authenticate as '%s'", ip, quoted))
		failed()
		return
	}
	ok := false
	switch {
	case !u.acl.allows(ip):
		s.securityEvent(ss, "FailedACL", "Error", 1, username)
		s.log.Info(fmt.Sprintf("%s failed to pass IP ACL as '%s'", ip, quoted))
	case strings.EqualFold(r.p.Get("AuthType"), "MD5"):
		key := r.p.Get("Key")
		ss.mu.Lock()
		ch := ss.challenge
		ss.mu.Unlock()
		if key != "" && ch != "" && u.hasSecret {
			sum := md5.Sum([]byte(ch + u.secret))
			want := hex.EncodeToString(sum[:])
			if subtle.ConstantTimeCompare([]byte(want), []byte(key)) == 1 {
				ok = true
			} else {
				s.securityEvent(ss, "ChallengeResponseFailed", "Error", 1, username,
					Field{"Challenge", ch}, Field{"Response", key}, Field{"ExpectedResponse", want})
			}
		}
	case u.hasSecret:
		if subtle.ConstantTimeCompare([]byte(r.p.Get("Secret")), []byte(u.secret)) == 1 {
			ok = true
		} else {
			s.securityEvent(ss, "InvalidPassword", "Error", 2, username)
		}
	}
	if !ok {
		s.log.Info(fmt.Sprintf("%s failed to authenticate as '%s'", ip, quoted))
		failed()
		return
	}

	if !s.claimLogin(username, u.allowMultipleLogin) {
		// allowmultiplelogin=no (checked after the secret, so that an unauthenticated client
		// learns nothing about who is logged in).
		s.securityEvent(ss, "SessionLimit", "Error", 1, username)
		if s.failDelay > 0 {
			time.Sleep(s.failDelay)
		}
		r.fail("Login Already In Use")
		r.close = true
		r.after = func() { ss.finish("login already in use") }
		return
	}
	ss.claimed = true
	s.loginSucceeded(ip)
	mask := u.read
	if ev := r.p.Get("Events"); ev != "" {
		if m := eventMask(ev); m >= 0 {
			mask = u.read & Class(m)
		}
	}
	filters := u.filters
	ss.mu.Lock()
	ss.username = username
	ss.readPerm, ss.writePerm = u.read, u.write
	ss.filters = &filters
	ss.setvars = u.setvars
	ss.loginTime = s.clock()
	if u.writeTimeout > 0 {
		ss.writeStall = u.writeTimeout
	}
	ss.mu.Unlock()
	ss.sendEvents.Store(uint32(mask))
	ss.authed.Store(true)
	if u.displayConnects {
		s.log.Log(context.Background(), logger.Verbose(2), fmt.Sprintf("Manager '%s' logged on from %s", quoted, ip))
	}
	r.ack("Authentication accepted")
	if mask&ClassSystem != 0 && s.b != nil {
		if info := s.b.Settings(); info.FullyBooted {
			now := s.clock()
			ev := FullyBootedEvent(sinceOr0(now, info.StartTime), sinceOr0(now, info.ReloadTime))
			r.w.kv("Event", ev.Name)
			r.w.kv("Privilege", ev.Class.String())
			for _, f := range ev.Fields {
				r.w.kv(f.Key, f.Value)
			}
			r.w.end()
		}
	}
	r.login = true
	// Published once the session has joined the published set, after the response and
	// FullyBooted: the session that logged in gets its own SuccessfulAuth (when it reads the
	// security class), as in Asterisk, where the event reaches the sessions asynchronously.
	r.then(func() {
		s.securityEvent(ss, "SuccessfulAuth", "Informational", 1, username, Field{"UsingPassword", "1"})
	})
}

func sinceOr0(now, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return now.Sub(t)
}

func (s *Server) actPing(r *request) {
	r.head("Success")
	r.w.kv("Ping", "Pong")
	r.w.kv("Timestamp", unixMicro(s.clock()))
	r.w.end()
}

func (s *Server) actEvents(r *request) {
	m := eventMask(r.p.Get("EventMask"))
	if m < 0 {
		r.fail("Invalid event mask")
		return
	}
	ss := r.s
	ss.sendEvents.Store(uint32(ss.readPerm & Class(m)))
	r.head("Success")
	if m > 0 {
		r.w.kv("Events", "On")
	} else {
		r.w.kv("Events", "Off")
	}
	r.w.end()
}

func (s *Server) actListCommands(r *request) {
	r.head("Success")
	for _, a := range actionOrder {
		if a.authority == 0 || r.s.writePerm&a.authority != 0 {
			r.w.b = fmt.Appendf(r.w.b, "%s: %s (Priv: %s)\r\n", a.name, a.synopsis, a.authority.String())
		}
	}
	for _, a := range s.extList() {
		if a.Authority == 0 || r.s.writePerm&a.Authority != 0 {
			r.w.b = fmt.Appendf(r.w.b, "%s: %s (Priv: %s)\r\n", a.Name, a.Synopsis, a.Authority.String())
		}
	}
	r.w.end()
}

// commandBlacklist is Asterisk's: CLI commands the Command action refuses.
var commandBlacklist = [][]string{{"module", "load"}, {"module", "unload"}, {"restart", "gracefully"}}

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

func (s *Server) actCommand(r *request) {
	cmd := r.p.Get("Command")
	if strings.TrimSpace(cmd) == "" {
		r.fail("No command provided")
		return
	}
	words := strings.Fields(strings.ToLower(cmd))
	for _, bl := range commandBlacklist {
		if len(words) >= len(bl) && equalWords(words[:len(bl)], bl) {
			r.fail("Command blacklisted")
			return
		}
	}
	if s.reg == nil {
		r.fail("Command not available")
		return
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	err := s.reg.Run(ctx, cmd, &out, nil)
	cancel()
	if err != nil {
		r.head("Error")
	} else {
		r.head("Success")
	}
	text := ansiEscape.ReplaceAllString(out.String(), "")
	text = strings.TrimSuffix(text, "\n")
	r.w.kv("Message", "Command output follows")
	for _, line := range strings.Split(text, "\n") {
		r.w.kv("Output", strings.TrimSuffix(line, "\r"))
	}
	r.w.end()
}

func equalWords(a, b []string) bool {
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *Server) needBackend(r *request) bool {
	if s.b == nil {
		r.fail("Not available: no state backend")
		return false
	}
	return true
}

func (s *Server) actReload(r *request) {
	if !s.needBackend(r) {
		return
	}
	err := s.b.Reload(s.ctx, r.p.Get("Module"))
	switch {
	case err == nil:
		r.ack("Module Reloaded")
	case errors.Is(err, ErrNoSuchModule):
		r.fail("No such module")
	case errors.Is(err, ErrReloadNotImplemented):
		r.fail("Module does not support reload")
	case errors.Is(err, ErrReloadInProgress):
		r.fail("A reload is in progress")
	default:
		r.fail("An unknown error occurred")
	}
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func (s *Server) actCoreSettings(r *request) {
	var info CoreInfo
	if s.b != nil {
		info = s.b.Settings()
	}
	r.head("Success")
	r.w.kv("AMIversion", Version)
	r.w.kv("AsteriskVersion", info.Version)
	r.w.kv("SystemName", info.SystemName)
	r.w.kvInt("CoreMaxCalls", info.MaxCalls)
	r.w.kv("CoreMaxLoadAvg", strconv.FormatFloat(info.MaxLoadAvg, 'f', 6, 64))
	r.w.kv("CoreRunUser", info.RunUser)
	r.w.kv("CoreRunGroup", info.RunGroup)
	r.w.kvInt("CoreMaxFilehandles", info.MaxFileHandles)
	r.w.kv("CoreRealTimeEnabled", yesNo(info.RealtimeEnabled))
	r.w.kv("CoreCDRenabled", yesNo(info.CDREnabled))
	r.w.kv("CoreHTTPenabled", yesNo(info.HTTPEnabled))
	r.w.kv("SoundsSearchCustomDir", yesNo(info.SoundsSearchCustomDir))
	r.w.kv("PleiadesVersion", info.Version)
	r.w.end()
}

func (s *Server) actCoreStatus(r *request) {
	var info CoreInfo
	if s.b != nil {
		info = s.b.Settings()
	}
	st, rl := info.StartTime.Local(), info.ReloadTime.Local()
	if info.StartTime.IsZero() {
		st = time.Unix(0, 0).Local()
	}
	if info.ReloadTime.IsZero() {
		rl = time.Unix(0, 0).Local()
	}
	r.head("Success")
	r.w.kv("CoreStartupDate", st.Format("2006-01-02"))
	r.w.kv("CoreStartupTime", st.Format("15:04:05"))
	r.w.kv("CoreReloadDate", rl.Format("2006-01-02"))
	r.w.kv("CoreReloadTime", rl.Format("15:04:05"))
	r.w.kvInt("CoreCurrentCalls", info.CurrentCalls)
	r.w.kvInt("CoreProcessedCalls", info.ProcessedCalls)
	r.w.end()
}

func (s *Server) actExtensionState(r *request) {
	exten, context := r.p.Get("Exten"), r.p.Get("Context")
	if exten == "" {
		r.fail("Extension not specified")
		return
	}
	if context == "" {
		context = "default"
	}
	if !s.needBackend(r) {
		return
	}
	st, ok := s.b.ExtensionState(exten, context)
	if !ok {
		st = ExtState{Status: state.ExtDeactivated, StatusText: "Unknown"} // Asterisk: -1, "Unknown"
	}
	r.head("Success")
	r.w.kv("Message", "Extension Status")
	r.w.kv("Exten", exten)
	r.w.kv("Context", context)
	r.w.kv("Hint", st.Hint)
	r.w.kvInt("Status", int(st.Status))
	r.w.kv("StatusText", st.StatusText)
	r.w.end()
}

func (s *Server) actExtensionStateList(r *request) {
	if !s.needBackend(r) {
		return
	}
	states := s.b.ExtensionStates()
	if len(states) == 0 {
		r.fail("No dialplan hints are available")
		return
	}
	r.listStart("Extension Statuses will follow")
	n := 0
	for _, st := range states {
		if strings.HasPrefix(st.Exten, "_") {
			continue
		}
		n++
		hint := st.Hint
		if hint == "" {
			hint = "None"
		}
		r.listItem("ExtensionStatus", Field{"Exten", st.Exten}, Field{"Context", st.Context}, Field{"Hint", hint},
			Field{"Status", strconv.Itoa(int(st.Status))}, Field{"StatusText", st.StatusText})
	}
	r.listComplete("ExtensionStateListComplete", n)
}

func (s *Server) actDeviceStateList(r *request) {
	if !s.needBackend(r) {
		return
	}
	states := s.b.DeviceStates()
	r.listStart("Device State Changes will follow")
	for _, d := range states {
		r.listItem("DeviceStateChange", Field{"Device", d.Device}, Field{"State", d.State.String()})
	}
	r.listComplete("DeviceStateListComplete", len(states))
}

func (s *Server) actPresenceState(r *request) {
	provider := r.p.Get("Provider")
	if provider == "" {
		r.fail("No provider specified")
		return
	}
	pb, ok := s.b.(PresenceBackend)
	if !ok || s.b == nil {
		r.fail(fmt.Sprintf("Invalid provider %s or provider in invalid state", provider))
		return
	}
	state, subtype, message, ok := pb.PresenceState(provider)
	if !ok {
		r.fail(fmt.Sprintf("Invalid provider %s or provider in invalid state", provider))
		return
	}
	r.head("Success")
	r.w.kv("Message", "Presence State")
	r.w.kv("State", state)
	if subtype != "" {
		r.w.kv("Subtype", subtype)
	}
	if message != "" {
		r.w.kv("Message", message)
		r.w.kv("PresenceMessage", message)
	}
	r.w.end()
}

// mailboxParam reads the Mailbox: header of MailboxCount/MailboxStatus and its counts;
// ok is false when an error was already answered.
func (s *Server) mailboxParam(r *request) (string, MailboxInfo, bool) {
	mb := r.p.Get("Mailbox")
	if mb == "" {
		r.fail("Mailbox not specified")
		return "", MailboxInfo{}, false
	}
	if !s.needBackend(r) {
		return "", MailboxInfo{}, false
	}
	info, _ := s.b.Mailbox(mb)
	return mb, info, true
}

func (s *Server) actMailboxCount(r *request) {
	mb, info, ok := s.mailboxParam(r)
	if !ok {
		return
	}
	r.head("Success")
	r.w.kv("Message", "Mailbox Message Count")
	r.w.kv("Mailbox", mb)
	r.w.kvInt("UrgMessages", info.Urgent)
	r.w.kvInt("NewMessages", info.New)
	r.w.kvInt("OldMessages", info.Old)
	r.w.end()
}

func (s *Server) actMailboxStatus(r *request) {
	mb, info, ok := s.mailboxParam(r)
	if !ok {
		return
	}
	w := 0
	if info.New > 0 {
		w = 1
	}
	r.head("Success")
	r.w.kv("Message", "Mailbox Status")
	r.w.kv("Mailbox", mb)
	r.w.kvInt("Waiting", w)
	r.w.end()
}

// mailboxSelect returns the mailboxes named by id: one mailbox, or every mailbox matching
// "/regex/".
func (s *Server) mailboxSelect(r *request, id string) ([]MailboxInfo, bool) {
	if strings.HasPrefix(id, "/") {
		pat := strings.TrimPrefix(id, "/")
		if !strings.HasSuffix(pat, "/") || len(pat) == 0 {
			r.fail("Mailbox regex format invalid in: " + id)
			return nil, false
		}
		re, err := regexp.Compile(strings.TrimSuffix(pat, "/"))
		if err != nil {
			r.fail("Mailbox regex format invalid in: " + id)
			return nil, false
		}
		var out []MailboxInfo
		for _, m := range s.b.Mailboxes() {
			if re.MatchString(m.Mailbox) {
				out = append(out, m)
			}
		}
		return out, true
	}
	if m, ok := s.b.Mailbox(id); ok {
		if m.Mailbox == "" {
			m.Mailbox = id
		}
		return []MailboxInfo{m}, true
	}
	return nil, true
}

func (s *Server) actMWIGet(r *request) {
	id := r.p.Get("Mailbox")
	if id == "" {
		r.fail("Missing mailbox parameter in request")
		return
	}
	if !s.needBackend(r) {
		return
	}
	mbs, ok := s.mailboxSelect(r, id)
	if !ok {
		return
	}
	r.listStart("Mailboxes will follow")
	for _, m := range mbs {
		r.listItemLast("MWIGet", Field{"Mailbox", m.Mailbox}, Field{"OldMessages", strconv.Itoa(m.Old)},
			Field{"NewMessages", strconv.Itoa(m.New)})
	}
	r.listComplete("MWIGetComplete", len(mbs))
}

func (s *Server) actMWIUpdate(r *request) {
	id := r.p.Get("Mailbox")
	if id == "" {
		r.fail("Missing mailbox parameter in request")
		return
	}
	count := func(key string) (int, bool) {
		v := r.p.Get(key)
		if v == "" {
			return 0, true
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 31)
		if err != nil {
			r.fail(fmt.Sprintf("Invalid %s: %s", key, v))
			return 0, false
		}
		return int(n), true
	}
	oldN, ok := count("OldMessages")
	if !ok {
		return
	}
	newN, ok := count("NewMessages")
	if !ok {
		return
	}
	if !s.needBackend(r) {
		return
	}
	if err := s.b.MWIUpdate(id, newN, oldN, 0); err != nil {
		r.fail("Update attempt failed")
		return
	}
	r.ack("")
}

func (s *Server) actMWIDelete(r *request) {
	id := r.p.Get("Mailbox")
	if id == "" {
		r.fail("Missing mailbox parameter in request")
		return
	}
	if !s.needBackend(r) {
		return
	}
	if strings.HasPrefix(id, "/") {
		mbs, ok := s.mailboxSelect(r, id)
		if !ok {
			return
		}
		for _, m := range mbs {
			s.b.MWIDelete(m.Mailbox)
		}
	} else {
		s.b.MWIDelete(id)
	}
	r.ack("")
}

func (s *Server) needDB(r *request) bool {
	if s.db == nil {
		r.fail("Database not available")
		return false
	}
	return true
}

// dbEntry reads Family and Key (both required) and checks that the database is there; it
// answers the error itself. Asterisk's messages end with a period except DBPut's (stop ".").
func (s *Server) dbEntry(r *request, stop string) (family, key string, ok bool) {
	family, key = r.p.Get("Family"), r.p.Get("Key")
	if family == "" {
		r.fail("No family specified" + stop)
		return "", "", false
	}
	if key == "" {
		r.fail("No key specified" + stop)
		return "", "", false
	}
	return family, key, s.needDB(r)
}

func (s *Server) actDBGet(r *request) {
	family, key, ok := s.dbEntry(r, ".")
	if !ok {
		return
	}
	val, err := s.db.Get(family, key)
	if err != nil {
		r.fail("Database entry not found")
		return
	}
	r.listStart("Result will follow")
	r.listItemLast("DBGetResponse", Field{"Family", family}, Field{"Key", key}, Field{"Val", val})
	r.listComplete("DBGetComplete", 1)
}

func (s *Server) actDBGetTree(r *request) {
	family, key := r.p.Get("Family"), r.p.Get("Key")
	if !s.needDB(r) {
		return
	}
	var entries []astdb.Entry
	var err error
	if family == "" {
		entries, err = s.db.Show("", "")
	} else {
		entries, err = s.db.Show(family, key)
	}
	if err != nil {
		r.fail("Unable to search database")
		return
	}
	r.listStart("Result will follow")
	for _, e := range entries {
		r.listItemLast("DBGetTreeResponse", Field{"Key", e.Key}, Field{"Val", e.Value})
	}
	r.listComplete("DBGetTreeComplete", len(entries))
}

func (s *Server) actDBPut(r *request) {
	family, key, ok := s.dbEntry(r, "")
	if !ok {
		return
	}
	if err := s.db.Put(family, key, r.p.Get("Val")); err != nil {
		r.fail("Failed to update entry")
		return
	}
	r.ack("Updated database successfully")
}

func (s *Server) actDBDel(r *request) {
	family, key, ok := s.dbEntry(r, ".")
	if !ok {
		return
	}
	if err := s.db.Del(family, key); err != nil {
		r.fail("Database entry could not be deleted")
		return
	}
	r.ack("Key deleted successfully")
}

func (s *Server) actDBDelTree(r *request) {
	family, key := r.p.Get("Family"), r.p.Get("Key")
	if family == "" {
		r.fail("No family specified.")
		return
	}
	if !s.needDB(r) {
		return
	}
	if n, err := s.db.DelTree(family, key); err != nil || n == 0 {
		r.fail("Database entry not found")
		return
	}
	r.ack("Key tree deleted successfully")
}

// privileged reports whether the session's user may use functions and applications that
// escalate (the system write class, as Asterisk's manager asks for System, Exec, SHELL...).
func (r *request) privileged() bool { return r.s.writePerm&ClassSystem != 0 }

func (s *Server) actGetvar(r *request) {
	name := r.p.Get("Variable")
	if name == "" {
		r.fail("No variable specified")
		return
	}
	if r.p.Get("Channel") != "" {
		r.fail("No such channel")
		return
	}
	if !s.needBackend(r) {
		return
	}
	// As in Asterisk, a function that fails reads as "": only a refusal is an error.
	val, err := s.b.GetVar(name, r.privileged())
	if errors.Is(err, ErrForbidden) {
		r.fail("GetVar Access Forbidden: Variable")
		return
	}
	r.head("Success")
	r.w.kv("Variable", name)
	r.w.kv("Value", val)
	r.w.end()
}

func (s *Server) actSetvar(r *request) {
	name := r.p.Get("Variable")
	if name == "" {
		r.fail("No variable specified")
		return
	}
	if r.p.Get("Channel") != "" {
		r.fail("No such channel")
		return
	}
	if !s.needBackend(r) {
		return
	}
	if err := s.b.SetVar(name, r.p.Get("Value"), r.privileged()); err != nil {
		r.fail("Variable not set")
		return
	}
	r.ack("Variable Set")
}

func (s *Server) actOriginate(r *request) {
	p := r.p
	req := OriginateRequest{
		Channel: p.Get("Channel"), Context: p.Get("Context"), Exten: p.Get("Exten"),
		App: p.Get("Application"), Data: p.Get("Data"), CallerID: p.Get("CallerID"),
		Account: p.Get("Account"), Async: conf.IsTrue(strings.TrimSpace(p.Get("Async"))), Timeout: 30 * time.Second,
	}
	if req.Channel == "" {
		r.fail("Channel not specified")
		return
	}
	if pr := p.Get("Priority"); pr != "" {
		n, err := strconv.Atoi(strings.TrimSpace(pr))
		if err != nil {
			r.fail("Invalid priority")
			return
		}
		req.Priority = n
	}
	if t := p.Get("Timeout"); t != "" {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil {
			r.fail("Invalid timeout")
			return
		}
		if n > 0 { // 0 or less: the default (Asterisk: no timeout at all)
			req.Timeout = time.Duration(n) * time.Millisecond
		}
	}
	if !strings.Contains(req.Channel, "/") {
		r.fail("Invalid channel")
		return
	}
	if req.App == "" && (req.Exten == "" || req.Context == "" || req.Priority == 0) {
		r.fail("Originate with 'Exten' requires 'Context' and 'Priority'")
		return
	}
	req.Vars = append(append([]Field(nil), r.s.setvars...), p.Variables()...)
	req.Privileged = r.privileged()
	if !s.needBackend(r) {
		return
	}
	if err := s.b.CheckOriginate(req); errors.Is(err, ErrForbidden) {
		r.fail("Originate Access Forbidden: app or data blacklisted")
		return
	}
	if !req.Async {
		ctx, cancel := context.WithTimeout(s.ctx, req.Timeout+5*time.Second)
		_, err := s.b.Originate(ctx, req)
		cancel()
		if err != nil {
			r.fail("Originate failed")
			return
		}
		r.ack("Originate successfully queued")
		return
	}
	r.ack("Originate successfully queued")
	id := r.id
	// Started once the response is queued, so OriginateResponse always follows it.
	r.after = func() {
		s.sessWG.Add(1)
		go func() {
			defer s.sessWG.Done()
			ctx, cancel := context.WithTimeout(s.ctx, req.Timeout+5*time.Second)
			res, err := s.b.Originate(ctx, req)
			cancel()
			s.Publish(originateResponse(id, req, res, err))
		}()
	}
}

// originateResponse is Asterisk's OriginateResponse event (class call).
func originateResponse(actionID string, req OriginateRequest, res OriginateResult, err error) Event {
	var f []Field
	if actionID != "" {
		f = append(f, Field{"ActionID", actionID})
	}
	resp := "Success"
	if err != nil {
		resp = "Failure"
	}
	ch := res.Channel
	if ch == "" {
		ch = req.Channel
	}
	f = append(f, Field{"Response", resp}, Field{"Channel", ch})
	if req.App != "" {
		f = append(f, Field{"Application", req.App}, Field{"Data", req.Data})
	} else {
		f = append(f, Field{"Context", req.Context}, Field{"Exten", req.Exten})
	}
	uid := res.Uniqueid
	if uid == "" {
		uid = "<unknown>"
	}
	name, num := callerid.Split(req.CallerID)
	f = append(f, Field{"Reason", strconv.Itoa(res.Reason)}, Field{"Uniqueid", uid},
		Field{"CallerIDNum", orUnknown(num)}, Field{"CallerIDName", orUnknown(name)})
	return Event{Name: "OriginateResponse", Class: ClassCall, Fields: f}
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func (s *Server) actUserEvent(r *request) {
	name := r.p.Get("UserEvent")
	if name == "" {
		r.fail("Missing UserEvent")
		return
	}
	fields := []Field{{"UserEvent", name}}
	for _, l := range r.p.Lines {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(k, "UserEvent") || strings.EqualFold(k, "Action") {
			continue
		}
		fields = append(fields, Field{k, strings.TrimLeft(v, " \t")})
	}
	r.ack("Event Sent")
	r.after = func() { s.Publish(Event{Name: "UserEvent", Class: ClassUser, Fields: fields}) }
}

// actRealtimeInvalidate is Pleiades' own action (no Asterisk counterpart): "realtime
// invalidate Family [Key]" for provisioning systems whose database cannot notify. Family is
// required; without Key every cached object of the family is dropped.
func (s *Server) actRealtimeInvalidate(r *request) {
	family := r.p.Get("Family")
	if family == "" {
		r.fail("Missing Family parameter in request")
		return
	}
	rb, ok := s.b.(RealtimeBackend)
	if !ok || s.b == nil {
		r.fail("Realtime is not available")
		return
	}
	if err := rb.RealtimeInvalidate(family, r.p.Get("Key")); err != nil {
		r.fail(fmt.Sprintf("Family %s is not mapped in extconfig.conf", family))
		return
	}
	r.ack("Invalidated")
}
