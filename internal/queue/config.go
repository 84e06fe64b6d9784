package queue

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Strategy is how a queue picks the members to ring (queues.conf strategy=).
type Strategy uint8

// The strategies, in Asterisk's order of its strategy table.
const (
	RingAll Strategy = iota
	LeastRecent
	FewestCalls
	Random
	RRMemory
	Linear
	WRandom
	RROrdered
)

var strategyNames = [...]string{"ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom", "rrordered"}

func (s Strategy) String() string {
	if int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return "ringall"
}

// ParseStrategy reads a strategy name (case-insensitive). Asterisk's old alias
// "roundrobin" is rrmemory.
func ParseStrategy(s string) (Strategy, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "roundrobin" {
		return RRMemory, true
	}
	for i, n := range strategyNames {
		if s == n {
			return Strategy(i), true
		}
	}
	return RingAll, false
}

// Empty is a set of member conditions for joinempty and leavewhenempty: a member in one of
// these conditions does not count as someone who could answer.
type Empty uint16

// The member conditions of joinempty/leavewhenempty.
const (
	EmptyPenalty Empty = 1 << iota
	EmptyPaused
	EmptyInUse
	EmptyRinging
	EmptyUnavailable
	EmptyInvalid
	EmptyUnknown
	EmptyWrapup
)

var emptyNames = []struct {
	name string
	bit  Empty
}{{"penalty", EmptyPenalty}, {"paused", EmptyPaused}, {"inuse", EmptyInUse}, {"ringing", EmptyRinging},
	{"unavailable", EmptyUnavailable}, {"invalid", EmptyInvalid}, {"unknown", EmptyUnknown}, {"wrapup", EmptyWrapup}}

// parseEmpty reads a joinempty/leavewhenempty value: a comma list of conditions, "loose",
// "strict", or yes/no. join: for joinempty "yes" means join whatever (no condition), "no"
// means penalty,paused,invalid; for leavewhenempty it is the other way round.
func parseEmpty(v string, join bool) (Empty, error) {
	var e Empty
	for _, w := range strings.Split(v, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		found := false
		for _, n := range emptyNames {
			if w == n.name {
				e |= n.bit
				found = true
			}
		}
		if found {
			continue
		}
		switch {
		case w == "loose":
			e = EmptyPenalty | EmptyInvalid
		case w == "strict":
			e = EmptyPenalty | EmptyInvalid | EmptyPaused | EmptyUnavailable
		case conf.IsTrue(w) == join && (conf.IsTrue(w) || conf.IsFalse(w)):
			e = 0
		case conf.IsTrue(w) || conf.IsFalse(w):
			e = EmptyPenalty | EmptyInvalid | EmptyPaused
		default:
			return 0, fmt.Errorf("unknown condition %q", w)
		}
	}
	return e, nil
}

func (e Empty) String() string {
	var out []string
	for _, n := range emptyNames {
		if e&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ",")
}

// General is queues.conf's [general].
type General struct {
	PersistentMembers    bool // default no
	Autofill             bool // default for queues that do not set it
	SharedLastCall       bool // lastcall and calls shared by a member's queues
	UpdateCDR            bool // the caller's CDR names the member who answered (dstchannel)
	LogMembernameAsAgent bool // ADDMEMBER/REMOVEMEMBER name the member, not the interface
}

// MemberConfig is one member of a queue as configured (member => line, a realtime row, or
// a dynamic AddQueueMember).
type MemberConfig struct {
	Interface      string // "SIP/alice"
	Penalty        int
	Name           string // membername (default: the interface)
	StateInterface string // the device whose state counts (default: the interface)
	RingInUse      *bool  // nil: the queue's ringinuse
	Paused         bool
	// UniqueID is a realtime member's queue_members uniqueid: a pause is written back to
	// that row (paused, reason_paused), as Asterisk does.
	UniqueID string
	// RowReason is a realtime member's reason_paused column.
	RowReason string
	File      string
	Line      int
}

// Device is the device whose state decides whether the member can be rung.
func (m *MemberConfig) Device() string {
	if m.StateInterface != "" {
		return m.StateInterface
	}
	return m.Interface
}

// MemberName is the name queue_log and AMI use.
func (m *MemberConfig) MemberName() string {
	if m.Name != "" {
		return m.Name
	}
	return m.Interface
}

// QueueConfig is one queue's settings.
type QueueConfig struct {
	Name              string
	Strategy          Strategy
	Timeout           int // seconds a member rings; Asterisk's default 15
	Retry             int // seconds between attempts; default 5
	WrapupTime        int // seconds after a call before the member is rung again
	MaxLen            int // 0: unlimited
	Weight            int
	ServiceLevel      int
	JoinEmpty         Empty
	LeaveWhenEmpty    Empty
	RingInUse         bool // default yes
	Autofill          bool
	AnnounceFrequency int
	PeriodicAnnounce  []string
	PeriodicFrequency int
	RelativePeriodic  bool // relative-periodic-announce: the period counts from an announcement's end
	RandomPeriodic    bool // random-periodic-announce: a file drawn at random, not in turn
	MusicClass        string
	Announce          string
	Context           string
	SetQueueVar       bool // setqueuevar: QUEUE* variables on the caller when it leaves
	// Position announcements (every AnnounceFrequency s, or when the caller's place changed
	// and MinAnnounceFrequency s passed): announce-position (default yes),
	// announce-position-limit (10), announce-position-only-up, announce-to-first-user (default
	// no), announce-holdtime (no), announce-round-seconds (0) and the sound files.
	AnnouncePosition       PositionMode
	AnnouncePositionLimit  int
	AnnouncePositionOnlyUp bool
	AnnounceToFirstUser    bool
	MinAnnounceFrequency   int
	AnnounceHoldtime       HoldtimeMode
	RoundSeconds           int
	SoundNext              string // queue-youarenext
	SoundThereAre          string // queue-thereare
	SoundCallsWaiting      string // queue-callswaiting
	SoundQuantity1         string // queue-quantity1 ("there are more than")
	SoundQuantity2         string // queue-quantity2 ("callers waiting")
	SoundHoldtime          string // queue-holdtime
	SoundMinute            string // queue-minute
	SoundMinutes           string // queue-minutes
	SoundSeconds           string // queue-seconds
	SoundThankYou          string // queue-thankyou
	SoundReportHold        string // queue-reporthold
	SoundCallerAnnounce    string // queue-callerannounce (none by default)
	// The member's side of a connect: memberdelay seconds of silence, then announce
	// (Queue()'s announceoverride instead), then with reportholdtime the caller's hold time.
	MemberDelay    int
	ReportHoldTime bool
	// Autopause (app_queue's rna): a member rung in vain is paused in this queue (yes) or
	// in every queue (all); not when its last call ended less than AutopauseDelay s ago;
	// a busy member only with AutopauseBusy, a congested one only with AutopauseUnavail.
	Autopause        AutopauseMode
	AutopauseDelay   int
	AutopauseBusy    bool
	AutopauseUnavail bool
	Members          []MemberConfig
	File             string
	Line             int
	// Realtime marks a queue read from the realtime "queues" family.
	Realtime bool
}

// defaultQueue is a queue with Asterisk's defaults.
func defaultQueue(name string, g General) QueueConfig {
	return QueueConfig{Name: name, Strategy: RingAll, Timeout: 15, Retry: 5, RingInUse: true, Autofill: g.Autofill, MusicClass: "default",
		AnnouncePosition: PositionYes, AnnouncePositionLimit: 10, MinAnnounceFrequency: 15,
		SoundNext: "queue-youarenext", SoundThereAre: "queue-thereare", SoundCallsWaiting: "queue-callswaiting",
		SoundQuantity1: "queue-quantity1", SoundQuantity2: "queue-quantity2", SoundHoldtime: "queue-holdtime",
		SoundMinute: "queue-minute", SoundMinutes: "queue-minutes", SoundSeconds: "queue-seconds",
		SoundThankYou: "queue-thankyou", SoundReportHold: "queue-reporthold"}
}

// PositionMode is announce-position: no, yes, limit (only callers within
// announce-position-limit hear it) or more (callers beyond it hear "more than" the limit).
type PositionMode int

// The announce-position values.
const (
	PositionNo PositionMode = iota
	PositionYes
	PositionLimit
	PositionMore
)

// AutopauseMode is autopause: no, yes (this queue) or all (every queue of the member).
type AutopauseMode int

// The autopause values.
const (
	AutopauseNo AutopauseMode = iota
	AutopauseYes
	AutopauseAll
)

// HoldtimeMode is announce-holdtime: no, yes, or once (the first announcement only).
type HoldtimeMode int

// The announce-holdtime values.
const (
	HoldtimeNo HoldtimeMode = iota
	HoldtimeYes
	HoldtimeOnce
)

// Config is the whole queues.conf.
type Config struct {
	General General
	Queues  []QueueConfig // in file order
}

// Queue returns the queue named name (case-insensitive), nil when none.
func (c *Config) Queue(name string) *QueueConfig {
	for i := range c.Queues {
		if strings.EqualFold(c.Queues[i].Name, name) {
			return &c.Queues[i]
		}
	}
	return nil
}

// ignoredParams are queues.conf settings Pleiades accepts without acting on them (recording,
// macros/gosubs, reporting options, penalty rules).
var ignoredParams = map[string]bool{
	"timeoutrestart": true, "timeoutpriority": true, "setinterfacevar": true,
	"setqueueentryvar": true, "monitor-format": true, "monitor-type": true, "membermacro": true,
	"membergosub": true, "eventwhencalled": true, "eventmemberstatus": true, "penaltymemberslimit": true,
	"servicelevel2": true, "defaultrule": true, "maskmemberstatus": true, "ringinuse-default": true, "joinempty-default": true,
	"sound-periodic-announce": true, "log-restricted-caller-id": true, "queue-thankyouforyourpatience": true,
	"name": true, "musiconhold": true, "uniqueid": true,
}

// Parse reads queues.conf. Every error names file:line; all of a file's errors are returned
// together (a conf.ErrorList) and nothing is applied. Notices (settings accepted and
// ignored) go to log, which may be nil.
func Parse(cfg *conf.Config, log *slog.Logger) (*Config, error) {
	out := &Config{}
	var errs conf.ErrorList
	add := func(file string, line int, format string, args ...any) {
		errs = append(errs, &conf.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if cfg == nil {
		return out, nil
	}
	if g := cfg.Category("general"); g != nil {
		for _, v := range g.Vars {
			name := strings.ToLower(strings.ReplaceAll(v.Name, "_", "-"))
			b, ok := conf.ParseBool(v.Value)
			switch name {
			case "persistentmembers", "autofill", "shared-lastcall", "updatecdr", "log-membername-as-agent":
				if !ok {
					add(v.File, v.Line, "%s: %q is not a boolean (yes/no)", v.Name, v.Value)
					continue
				}
				switch name {
				case "persistentmembers":
					out.General.PersistentMembers = b
				case "autofill":
					out.General.Autofill = b
				case "shared-lastcall":
					out.General.SharedLastCall = b
				case "updatecdr":
					out.General.UpdateCDR = b
				case "log-membername-as-agent":
					out.General.LogMembernameAsAgent = b
				}
			case "monitor-type":
				if log != nil {
					log.Info(fmt.Sprintf("%s:%d: monitor-type is ignored (Pleiades does not record queue calls)", v.File, v.Line))
				}
			case "keepstats", "negative-penalty-invalid", "log-caller-id-name", "force-longest-waiting-caller", "log-unpause-on-reason-change":
				// accepted, no effect
			default:
				if log != nil {
					log.Warn(fmt.Sprintf("%s:%d: unknown [general] setting %q in queues.conf, ignored", v.File, v.Line, v.Name))
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, cat := range cfg.Categories {
		if cat.Template || strings.EqualFold(cat.Name, "general") {
			continue
		}
		key := strings.ToLower(cat.Name)
		if seen[key] {
			add(cat.File, cat.Line, "queue %q defined twice", cat.Name)
			continue
		}
		seen[key] = true
		q := defaultQueue(cat.Name, out.General)
		q.File, q.Line = cat.File, cat.Line
		for _, v := range cat.Vars {
			if err := q.set(v.Name, v.Value, v.File, v.Line); err != nil {
				add(v.File, v.Line, "%s", err.Error())
			}
		}
		out.Queues = append(out.Queues, q)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// set applies one setting (a queues.conf line or a realtime column; realtime's underscores
// read as dashes, as Asterisk does).
func (q *QueueConfig) set(name, value, file string, line int) error {
	lname := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), "_", "-"))
	value = strings.TrimSpace(value)
	atoi := func(min int) (int, error) {
		n, err := strconv.Atoi(value)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not an integer", name, value)
		}
		if n < min {
			return 0, fmt.Errorf("%s: %d is below %d", name, n, min)
		}
		return n, nil
	}
	boolean := func() (bool, error) {
		b, ok := conf.ParseBool(value)
		if !ok {
			return false, fmt.Errorf("%s: %q is not a boolean (yes/no)", name, value)
		}
		return b, nil
	}
	var err error
	switch lname {
	case "member":
		m, err := ParseMember(value)
		if err != nil {
			return err
		}
		m.File, m.Line = file, line
		for _, o := range q.Members {
			if strings.EqualFold(o.Interface, m.Interface) {
				return fmt.Errorf("member %s given twice in queue %s", m.Interface, q.Name)
			}
		}
		q.Members = append(q.Members, m)
	case "strategy":
		s, ok := ParseStrategy(value)
		if !ok {
			return fmt.Errorf("strategy: unknown strategy %q (ringall, leastrecent, fewestcalls, random, rrmemory, rrordered, linear, wrandom)", value)
		}
		q.Strategy = s
	case "timeout":
		q.Timeout, err = atoi(0)
	case "retry":
		q.Retry, err = atoi(0)
		if err == nil && q.Retry == 0 {
			q.Retry = 5 // Asterisk: retry <= 0 means the default
		}
	case "wrapuptime":
		q.WrapupTime, err = atoi(0)
	case "maxlen":
		q.MaxLen, err = atoi(0)
	case "weight":
		q.Weight, err = atoi(0)
	case "servicelevel":
		q.ServiceLevel, err = atoi(0)
	case "joinempty":
		q.JoinEmpty, err = parseEmpty(value, true)
		if err != nil {
			err = fmt.Errorf("joinempty: %w", err)
		}
	case "leavewhenempty":
		q.LeaveWhenEmpty, err = parseEmpty(value, false)
		if err != nil {
			err = fmt.Errorf("leavewhenempty: %w", err)
		}
	case "ringinuse":
		q.RingInUse, err = boolean()
	case "autofill":
		q.Autofill, err = boolean()
	case "announce-frequency":
		q.AnnounceFrequency, err = atoi(0)
	case "periodic-announce":
		q.PeriodicAnnounce = nil
		for _, f := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == '|' }) {
			if f = strings.TrimSpace(f); f != "" {
				q.PeriodicAnnounce = append(q.PeriodicAnnounce, f)
			}
		}
	case "periodic-announce-frequency":
		q.PeriodicFrequency, err = atoi(0)
	case "relative-periodic-announce":
		q.RelativePeriodic, err = boolean()
	case "random-periodic-announce":
		q.RandomPeriodic, err = boolean()
	case "musicclass", "musiconhold":
		q.MusicClass = value
	case "announce":
		q.Announce = value
	case "context":
		q.Context = value
	case "setqueuevar":
		q.SetQueueVar, err = boolean()
	case "announce-position":
		switch strings.ToLower(value) {
		case "limit":
			q.AnnouncePosition = PositionLimit
		case "more":
			q.AnnouncePosition = PositionMore
		default:
			var b bool
			if b, err = boolean(); err != nil {
				err = fmt.Errorf("announce-position: %q is not yes, no, limit or more", value)
			} else if b {
				q.AnnouncePosition = PositionYes
			} else {
				q.AnnouncePosition = PositionNo
			}
		}
	case "announce-position-limit":
		q.AnnouncePositionLimit, err = atoi(0)
	case "announce-position-only-up":
		q.AnnouncePositionOnlyUp, err = boolean()
	case "min-announce-frequency":
		q.MinAnnounceFrequency, err = atoi(0)
	case "announce-holdtime":
		if strings.EqualFold(value, "once") {
			q.AnnounceHoldtime = HoldtimeOnce
			break
		}
		var b bool
		if b, err = boolean(); err != nil {
			err = fmt.Errorf("announce-holdtime: %q is not yes, no or once", value)
		} else if b {
			q.AnnounceHoldtime = HoldtimeYes
		} else {
			q.AnnounceHoldtime = HoldtimeNo
		}
	case "announce-round-seconds":
		// Asterisk rounds to these only (another value: a warning and 0 there; an error here).
		if q.RoundSeconds, err = atoi(0); err == nil && !slices.Contains([]int{0, 5, 10, 15, 20, 30}, q.RoundSeconds) {
			err = fmt.Errorf("announce-round-seconds: %d is not 0, 5, 10, 15, 20 or 30", q.RoundSeconds)
		}
	case "announce-to-first-user":
		q.AnnounceToFirstUser, err = boolean()
	case "queue-youarenext":
		q.SoundNext = value
	case "queue-thereare":
		q.SoundThereAre = value
	case "queue-callswaiting":
		q.SoundCallsWaiting = value
	case "queue-thankyou":
		q.SoundThankYou = value
	case "autopause":
		if strings.EqualFold(value, "all") {
			q.Autopause = AutopauseAll
			break
		}
		var b bool
		if b, err = boolean(); err != nil {
			err = fmt.Errorf("autopause: %q is not yes, no or all", value)
		} else if b {
			q.Autopause = AutopauseYes
		} else {
			q.Autopause = AutopauseNo
		}
	case "autopausedelay":
		q.AutopauseDelay, err = atoi(0)
	case "autopausebusy":
		q.AutopauseBusy, err = boolean()
	case "autopauseunavail":
		q.AutopauseUnavail, err = boolean()
	case "queue-quantity1":
		q.SoundQuantity1 = value
	case "queue-quantity2":
		q.SoundQuantity2 = value
	case "queue-holdtime":
		q.SoundHoldtime = value
	case "queue-minute":
		q.SoundMinute = value
	case "queue-minutes":
		q.SoundMinutes = value
	case "queue-seconds":
		q.SoundSeconds = value
	case "queue-reporthold":
		q.SoundReportHold = value
	case "queue-callerannounce":
		q.SoundCallerAnnounce = value
	case "reportholdtime":
		q.ReportHoldTime, err = boolean()
	case "memberdelay":
		q.MemberDelay, err = atoi(0)
	default:
		if !ignoredParams[lname] {
			return fmt.Errorf("unknown setting %q in queue %s", name, q.Name)
		}
	}
	return err
}

// ParseMember reads "interface[,penalty[,membername[,state_interface[,ringinuse]]]]".
func ParseMember(s string) (MemberConfig, error) {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	var m MemberConfig
	m.Interface = parts[0]
	if m.Interface == "" {
		return m, fmt.Errorf("member: no interface in %q", s)
	}
	if !strings.Contains(m.Interface, "/") {
		return m, fmt.Errorf("member: interface %q is not Technology/resource", m.Interface)
	}
	if len(parts) > 5 {
		return m, fmt.Errorf("member: too many fields in %q (interface,penalty,membername,state_interface,ringinuse)", s)
	}
	if len(parts) > 1 && parts[1] != "" {
		n, err := strconv.Atoi(parts[1])
		if err != nil {
			return m, fmt.Errorf("member: penalty %q is not an integer", parts[1])
		}
		m.Penalty = n
	}
	if len(parts) > 2 {
		m.Name = parts[2]
	}
	if len(parts) > 3 {
		m.StateInterface = parts[3]
	}
	if len(parts) > 4 && parts[4] != "" {
		b, ok := conf.ParseBool(parts[4])
		if !ok {
			return m, fmt.Errorf("member: ringinuse %q is not a boolean (yes/no)", parts[4])
		}
		m.RingInUse = &b
	}
	return m, nil
}
