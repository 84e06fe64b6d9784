package ami

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// Field is one "Key: Value" line of an event or a realtime row.
type Field struct {
	Key, Value string
}

// Event is an unsolicited AMI event pushed in by (*Server).Publish. Fields come after the
// Event, Privilege, Timestamp (timestampevents) and SystemName lines that the server adds, in
// the order given.
type Event struct {
	Name   string
	Class  Class
	Fields []Field
}

// Reload errors a Backend returns from Reload; the Reload action answers them with
// Asterisk's messages. Any other error answers "An unknown error occurred".
var (
	ErrNoSuchModule         = errors.New("ami: no such module")
	ErrReloadNotImplemented = errors.New("ami: module does not support reload")
	ErrReloadInProgress     = errors.New("ami: a reload is in progress")
)

// ErrForbidden is returned by a Backend for a function or application that escalates
// privileges (the dialplan's own property of each) asked for by a user who may not have it:
// one without the system write class, unless asterisk.conf sets live_dangerously=yes. The
// actions answer Asterisk's "GetVar Access Forbidden: Variable", "Variable not set" and
// "Originate Access Forbidden: app or data blacklisted".
var ErrForbidden = errors.New("ami: privilege escalation refused")

// ErrUserNotFound is returned by a UserSource for an unknown user.
var ErrUserNotFound = errors.New("ami: no such manager user")

// CoreInfo is what CoreSettings, CoreStatus, FullyBooted and event headers report.
type CoreInfo struct {
	Version        string // Pleiades' version: AsteriskVersion and PleiadesVersion
	SystemName     string // asterisk.conf systemname: the SystemName: header of events when set
	EID            string
	MaxCalls       int
	MaxLoadAvg     float64
	RunUser        string
	RunGroup       string
	MaxFileHandles int
	RealtimeEnabled,
	CDREnabled,
	HTTPEnabled,
	SoundsSearchCustomDir bool
	StartTime      time.Time
	ReloadTime     time.Time
	CurrentCalls   int
	ProcessedCalls int
	// FullyBooted is true once startup is complete; a Login then gets a FullyBooted event.
	FullyBooted bool
}

// ExtState is one hint's extension state.
type ExtState struct {
	Exten, Context string
	Hint           string          // the hint's device list ("SIP/alice&Custom:x")
	Status         state.Extension // sent as Asterisk's number (0 Idle, 1 InUse, ... -1, -2)
	StatusText     string          // "Idle", "InUse", ...
}

// DeviceState is one device's cluster-wide state.
type DeviceState struct {
	Device string
	State  state.Device
}

// MailboxInfo is one mailbox's counts. Mailbox is "mailbox@context".
type MailboxInfo struct {
	Mailbox          string
	New, Old, Urgent int
}

// OriginateRequest is an Originate action.
type OriginateRequest struct {
	Channel  string // "Local/exten@context"
	Context  string
	Exten    string
	Priority int
	App      string // Application (then Data); empty for Context/Exten/Priority
	Data     string
	Timeout  time.Duration
	CallerID string
	Account  string
	Vars     []Field // the user's setvar= then the action's Variable: lines
	Async    bool
	// Privileged is true when the user holds the system write class: App and Data may then
	// escalate (see ErrForbidden).
	Privileged bool
}

// OriginateResult is what an originate attempt gave.
type OriginateResult struct {
	Channel  string // the channel's name ("" when none was answered: the event then names the requested one)
	Uniqueid string // "" when none was answered ("<unknown>")
	// Reason is Asterisk's originate reason: 4 answered; 0 failed (the far end hung up or
	// ended without answering, or the call could not be placed), 3 no answer within the
	// timeout, 5 busy, 8 congestion.
	Reason int
}

// ErrNotAnswered is wrapped by a Backend's Originate error for a call whose far end did not
// answer (OriginateResult.Reason says how it ended).
var ErrNotAnswered = errors.New("ami: originate not answered")

// Backend is what the server needs from the rest of Pleiades. The lead writes an adapter
// over the state engines; a nil Backend makes the state actions answer errors.
type Backend interface {
	// Reload reloads module ("" = everything), returning nil, ErrNoSuchModule,
	// ErrReloadNotImplemented, ErrReloadInProgress or another error.
	Reload(ctx context.Context, module string) error
	// Settings returns the core's settings and counters.
	Settings() CoreInfo
	// ExtensionState returns the state of the hint exten@context, false when there is none.
	ExtensionState(exten, context string) (ExtState, bool)
	// ExtensionStates returns every hint's state, in the order to list them.
	ExtensionStates() []ExtState
	// DeviceStates returns every known device's cluster-wide state.
	DeviceStates() []DeviceState
	// Mailbox returns the counts of mailbox ("100@default"), false when unknown.
	Mailbox(mailbox string) (MailboxInfo, bool)
	// Mailboxes returns every known mailbox.
	Mailboxes() []MailboxInfo
	// MWIUpdate sets a mailbox's counts (cluster-wide).
	MWIUpdate(mailbox string, newMsgs, oldMsgs, urgent int) error
	// MWIDelete forgets a mailbox.
	MWIDelete(mailbox string) error
	// GetVar reads a global variable or a function ("DEVICE_STATE(Custom:x)") for a user;
	// privileged is true when the user holds the system write class. A function whose read
	// escalates answers ErrForbidden to an unprivileged user; an unknown variable is "".
	GetVar(name string, privileged bool) (string, error)
	// SetVar sets a global variable or writes a function ("DEVICE_STATE(Custom:x)"); a
	// function whose write escalates answers ErrForbidden to an unprivileged user.
	SetVar(name, value string, privileged bool) error
	// CheckOriginate is asked before an Originate is acknowledged: ErrForbidden when
	// req.App, or a function or application its Data names, escalates and req.Privileged
	// is false; nil otherwise.
	CheckOriginate(req OriginateRequest) error
	// Originate places a call and returns when its far end answered (nil error, Reason 4)
	// or the call failed (an error, wrapping ErrNotAnswered when the far end did not
	// answer, with Reason set), at most req.Timeout after; with Async the server calls it in
	// its own goroutine and publishes OriginateResponse with the result. The application of
	// an unprivileged request runs with escalations refused, wherever it meets them.
	Originate(ctx context.Context, req OriginateRequest) (OriginateResult, error)
}

// PresenceBackend is implemented by a Backend whose hints carry presence; without it the
// PresenceState action answers an error.
type PresenceBackend interface {
	// PresenceState returns the state name ("available", "away", ...), subtype and message
	// of provider ("CustomPresence:x"); ok is false for an unknown or invalid provider.
	PresenceState(provider string) (state, subtype, message string, ok bool)
}

// RealtimeBackend is implemented by a Backend with a realtime engine; without it the
// RealtimeInvalidate action answers an error.
type RealtimeBackend interface {
	// RealtimeInvalidate drops the cached objects of family (key: one row, "": every row)
	// on this server and every server of the cluster; an error for a family not mapped.
	RealtimeInvalidate(family, key string) error
}

// UserSource finds manager users that manager.conf does not define, e.g. in realtime family
// "manager" (the lead wires it to the realtime engine). A row is the user's options as
// ordered (name, value) pairs with manager.conf's option names (secret, read, write, permit,
// deny, eventfilter, displayconnects, allowmultiplelogin, writetimeout, setvar); name and
// username columns are ignored. It returns ErrUserNotFound for an unknown user.
type UserSource interface {
	ManagerUser(ctx context.Context, username string) ([]Field, error)
}

// Event constructors for the events the lead publishes. Field names and order are those of
// Asterisk 22 (spec/ami.md); the server adds Privilege, Timestamp and SystemName.

// DeviceStateChangeEvent is "DeviceStateChange" (class call): Device, State ("INUSE").
func DeviceStateChangeEvent(device string, st state.Device) Event {
	return Event{Name: "DeviceStateChange", Class: ClassCall, Fields: []Field{{"Device", device}, {"State", st.String()}}}
}

// ExtensionStatusEvent is "ExtensionStatus" (class call): Exten, Context, Hint, Status,
// StatusText.
func ExtensionStatusEvent(s ExtState) Event {
	return Event{Name: "ExtensionStatus", Class: ClassCall, Fields: []Field{
		{"Exten", s.Exten}, {"Context", s.Context}, {"Hint", s.Hint},
		{"Status", strconv.Itoa(int(s.Status))}, {"StatusText", s.StatusText}}}
}

// MessageWaitingEvent is "MessageWaiting" (class call): Mailbox, Waiting, New, Old. Waiting
// is 1 whenever New > 0 (Asterisk's cluster path could say 0 there; see spec/ami.md).
func MessageWaitingEvent(mailbox string, newMsgs, oldMsgs int) Event {
	w := "0"
	if newMsgs > 0 {
		w = "1"
	}
	return Event{Name: "MessageWaiting", Class: ClassCall, Fields: []Field{
		{"Mailbox", mailbox}, {"Waiting", w}, {"New", strconv.Itoa(newMsgs)}, {"Old", strconv.Itoa(oldMsgs)}}}
}

// FullyBootedEvent is "FullyBooted" (class system): Uptime, LastReload (seconds), Status.
func FullyBootedEvent(uptime, sinceReload time.Duration) Event {
	return Event{Name: "FullyBooted", Class: ClassSystem, Fields: []Field{
		{"Uptime", strconv.Itoa(int(uptime / time.Second))},
		{"LastReload", strconv.Itoa(int(sinceReload / time.Second))},
		{"Status", "Fully Booted"}}}
}

// ReloadEvent is "Reload" (class system): Module ("All" for everything) and Status (Asterisk
// sends the numeric ast_module_reload_result: "2" success... the lead passes its own text).
func ReloadEvent(module, status string) Event {
	if module == "" {
		module = "All"
	}
	return Event{Name: "Reload", Class: ClassSystem, Fields: []Field{{"Module", module}, {"Status", status}}}
}

// ClusterMemberJoinEvent is the Pleiades event "ClusterMemberJoin" (class system): a server
// joined the cluster. Asterisk has no such AMI event (res_corosync only logs).
func ClusterMemberJoinEvent(node, eid, address string) Event {
	return Event{Name: "ClusterMemberJoin", Class: ClassSystem, Fields: []Field{
		{"Node", node}, {"EntityID", eid}, {"Address", address}}}
}

// ClusterMemberLeaveEvent is the Pleiades event "ClusterMemberLeave" (class system): a
// server left or was lost; Cleared is the number of its cached events removed.
func ClusterMemberLeaveEvent(node, eid, address, reason string, cleared int) Event {
	return Event{Name: "ClusterMemberLeave", Class: ClassSystem, Fields: []Field{
		{"Node", node}, {"EntityID", eid}, {"Address", address}, {"Reason", reason},
		{"Cleared", strconv.Itoa(cleared)}}}
}
