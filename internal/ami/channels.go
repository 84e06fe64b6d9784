package ami

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// ChannelStatus is one call leg as the Status and CoreShowChannels actions report it.
type ChannelStatus struct {
	channel.Snapshot
	// Type is the technology ("SIP").
	Type string
	// BridgeID is the bridge the leg is in, "" for none.
	BridgeID string
	// Format is the leg's audio format ("ulaw"), "" when it has no media yet.
	Format string
	// Variables are the leg's channel variables (its dialplan's), for AllVariables.
	Variables []Field
}

// ChannelBackend is implemented by a Backend that has call legs (internal/channel); without
// it the channel actions answer an error.
type ChannelBackend interface {
	// Channels returns every call leg, oldest first.
	Channels() []ChannelStatus
	// ChannelStatus returns the leg named name, false for none.
	ChannelStatus(name string) (ChannelStatus, bool)
	// HangupChannel asks the leg named name to hang up (Asterisk's soft hangup) with cause
	// (0: the leg's own); false when there is no such leg.
	HangupChannel(name string, cause channel.Cause) bool
}

func (s *Server) channelBackend(r *request) (ChannelBackend, bool) {
	cb, ok := s.b.(ChannelBackend)
	if !ok || s.b == nil {
		r.fail("Not available: no channels")
		return nil, false
	}
	return cb, true
}

func init() {
	for _, a := range []*action{
		{"Hangup", ClassSystem | ClassCall, "Hangup channel.", (*Server).actHangup},
		{"Status", ClassSystem | ClassCall | ClassReporting, "List channel status.", (*Server).actStatus},
		{"CoreShowChannels", ClassSystem | ClassReporting, "List currently active channels.", (*Server).actCoreShowChannels},
	} {
		actions[strings.ToLower(a.name)] = a
		actionOrder = append(actionOrder, a)
	}
	sortActions()
}

// unknownOr is Asterisk's S_OR(x, "<unknown>") of the channel snapshot strings.
func unknownOr(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// snapshotFields are ast_manager_build_channel_state_string_prefix's lines, in order.
func snapshotFields(prefix string, c channel.Snapshot) []Field {
	return []Field{
		{prefix + "Channel", c.Name},
		{prefix + "ChannelState", strconv.Itoa(int(c.State))},
		{prefix + "ChannelStateDesc", c.State.String()},
		{prefix + "CallerIDNum", unknownOr(c.CallerNum)},
		{prefix + "CallerIDName", unknownOr(c.CallerName)},
		{prefix + "ConnectedLineNum", unknownOr(c.ConnectedNum)},
		{prefix + "ConnectedLineName", unknownOr(c.ConnectedName)},
		{prefix + "Language", c.Language},
		{prefix + "AccountCode", c.AccountCode},
		{prefix + "Context", c.Context},
		{prefix + "Exten", c.Exten},
		{prefix + "Priority", strconv.Itoa(c.Priority)},
		{prefix + "Uniqueid", c.UniqueID},
		{prefix + "Linkedid", c.LinkedID},
	}
}

// softHangupExplicit is AST_SOFTHANGUP_EXPLICIT, the Cause Asterisk's SoftHangupRequest
// carries for a CLI or AMI hangup.
const softHangupExplicit = 32

// ChannelEvent is the AMI event of a channel event, with Asterisk 20's names and field
// order (main/manager_channels.c, main/manager_bridges.c); false for one AMI does not
// carry. A channel's RequestHangup (CLI "channel request hangup", the Hangup action) is
// Asterisk's soft hangup: SoftHangupRequest with Cause 32 (AST_SOFTHANGUP_EXPLICIT).
func ChannelEvent(e channel.Event) (Event, bool) {
	snap := func(extra ...Field) []Field { return append(snapshotFields("", e.Channel), extra...) }
	switch e.Kind {
	case channel.EventNewchannel, channel.EventNewstate:
		return Event{Name: e.Kind.String(), Class: ClassCall, Fields: snap()}, true
	case channel.EventNewCallerID:
		return Event{Name: "NewCallerid", Class: ClassCall, Fields: snap(Field{"CID-CallingPres", "0 (Presentation Allowed, Not Screened)"})}, true
	case channel.EventNewAccountCode:
		return Event{Name: "NewAccountCode", Class: ClassCall, Fields: snap(Field{"OldAccountCode", e.Old})}, true
	case channel.EventHangup:
		return Event{Name: "Hangup", Class: ClassCall, Fields: snap(Field{"Cause", strconv.Itoa(int(e.Cause))}, Field{"Cause-txt", e.Cause.String()})}, true
	case channel.EventHangupRequest:
		return Event{Name: "SoftHangupRequest", Class: ClassCall, Fields: snap(Field{"Cause", strconv.Itoa(softHangupExplicit)})}, true
	case channel.EventDialBegin, channel.EventDialEnd:
		var f []Field
		if e.Channel.Name != "" {
			f = snapshotFields("", e.Channel)
		}
		f = append(f, snapshotFields("Dest", e.Dest)...)
		if e.Kind == channel.EventDialBegin {
			ds := e.DialString
			if ds == "" {
				ds = "unknown"
			}
			return Event{Name: "DialBegin", Class: ClassCall, Fields: append(f, Field{"DialString", ds})}, true
		}
		return Event{Name: "DialEnd", Class: ClassCall, Fields: append(f, Field{"DialStatus", e.DialStatus})}, true
	case channel.EventBridgeEnter, channel.EventBridgeLeave:
		b := e.Bridge
		f := []Field{
			{"BridgeUniqueid", b.UniqueID},
			{"BridgeType", b.Type},
			{"BridgeTechnology", b.Technology},
			{"BridgeCreator", "<unknown>"},
			{"BridgeName", "<unknown>"},
			{"BridgeNumChannels", strconv.Itoa(b.NumChannels)},
			{"BridgeVideoSourceMode", "none"},
		}
		return Event{Name: e.Kind.String(), Class: ClassCall, Fields: append(f, snapshotFields("", e.Channel)...)}, true
	case channel.EventDTMFBegin:
		return Event{Name: "DTMFBegin", Class: ClassDTMF, Fields: snap(Field{"Digit", string(e.Digit)}, Field{"Direction", e.Direction})}, true
	case channel.EventDTMFEnd:
		return Event{Name: "DTMFEnd", Class: ClassDTMF, Fields: snap(Field{"Digit", string(e.Digit)},
			Field{"DurationMs", strconv.FormatInt(e.Duration.Milliseconds(), 10)}, Field{"Direction", e.Direction})}, true
	case channel.EventHold:
		return Event{Name: "Hold", Class: ClassCall, Fields: snap()}, true
	case channel.EventUnhold:
		return Event{Name: "Unhold", Class: ClassCall, Fields: snap()}, true
	case channel.EventMusicOnHoldStart:
		return Event{Name: "MusicOnHoldStart", Class: ClassCall, Fields: snap(Field{"Class", e.MusicClass})}, true
	case channel.EventMusicOnHoldStop:
		return Event{Name: "MusicOnHoldStop", Class: ClassCall, Fields: snap()}, true
	}
	return Event{}, false
}

// actHangup is Asterisk's Hangup action: Channel is a name or a /regex/; Cause (0-127)
// becomes the hangup cause.
func (s *Server) actHangup(r *request) {
	name := r.p.Get("Channel")
	if name == "" {
		r.fail("No channel specified")
		return
	}
	cb, ok := s.channelBackend(r)
	if !ok {
		return
	}
	cause := 0
	if c := r.p.Get("Cause"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 || n > 127 {
			s.log.Info("Invalid 'Cause: " + c + "' in manager action Hangup")
		} else {
			cause = n
		}
	}
	if !strings.HasPrefix(name, "/") {
		if !cb.HangupChannel(name, channel.Cause(cause)) {
			s.log.Info("Request to hangup non-existent channel: " + name)
			r.fail("No such channel")
			return
		}
		r.ack("Channel Hungup")
		return
	}
	pattern := strings.TrimPrefix(name, "/")
	if i := strings.LastIndexByte(pattern, '/'); i >= 0 {
		pattern = pattern[:i]
	} else {
		r.fail("Regex format invalid, Channel param should be /regex/")
		return
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		r.fail("Regex compile failed on: " + name)
		return
	}
	r.listStart("Channels hung up will follow")
	n := 0
	for _, c := range cb.Channels() {
		if !re.MatchString(c.Name) {
			continue
		}
		if cb.HangupChannel(c.Name, channel.Cause(cause)) {
			n++
			r.listItemLast("ChannelHungup", Field{"Channel", c.Name})
		}
	}
	r.listComplete("ChannelsHungupListComplete", n)
}

// actCoreShowChannels is Asterisk's CoreShowChannels: a CoreShowChannel event per leg
// (the snapshot, Application, ApplicationData, Duration, BridgeId).
func (s *Server) actCoreShowChannels(r *request) {
	cb, ok := s.channelBackend(r)
	if !ok {
		return
	}
	chans := cb.Channels()
	r.listStart("Channels will follow")
	now := time.Now()
	for _, c := range chans {
		f := snapshotFields("", c.Snapshot)
		f = append(f, Field{"Application", c.Application}, Field{"ApplicationData", c.AppData},
			Field{"Duration", hms(now.Sub(c.Created))}, Field{"BridgeId", c.BridgeID})
		r.listItem("CoreShowChannel", f...)
	}
	r.listComplete("CoreShowChannelsComplete", len(chans))
}

func hms(d time.Duration) string {
	secs := int(d / time.Second)
	return twoDigits(secs/3600) + ":" + twoDigits(secs%3600/60) + ":" + twoDigits(secs%60)
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// actStatus is Asterisk's Status: one Status event per leg (or the one named Channel),
// with the variables named in Variables (or all with AllVariables: true), then
// StatusComplete with Items.
func (s *Server) actStatus(r *request) {
	cb, ok := s.channelBackend(r)
	if !ok {
		return
	}
	var chans []ChannelStatus
	if name := r.p.Get("Channel"); name != "" {
		c, ok := cb.ChannelStatus(name)
		if !ok {
			r.fail("No such channel")
			return
		}
		chans = []ChannelStatus{c}
	} else {
		chans = cb.Channels()
	}
	var want []string
	if v := r.p.Get("Variables"); v != "" {
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				want = append(want, n)
			}
		}
	}
	all := conf.IsTrue(strings.TrimSpace(r.p.Get("AllVariables")))
	r.listStart("Channel status will follow")
	now := time.Now()
	for _, c := range chans {
		f := append([]Field{{"Privilege", "Call"}}, snapshotFields("", c.Snapshot)...)
		native := "(nothing)"
		if c.Format != "" {
			native = "(" + c.Format + ")"
		}
		f = append(f,
			Field{"Type", c.Type}, Field{"DNID", ""},
			Field{"EffectiveConnectedLineNum", unknownOr(c.ConnectedNum)},
			Field{"EffectiveConnectedLineName", unknownOr(c.ConnectedName)},
			Field{"TimeToHangup", "0"}, Field{"BridgeID", c.BridgeID},
			Field{"Application", c.Application}, Field{"Data", c.AppData},
			Field{"Nativeformats", native}, Field{"Readformat", c.Format}, Field{"Readtrans", ""},
			Field{"Writeformat", c.Format}, Field{"Writetrans", ""},
			Field{"Callgroup", "0"}, Field{"Pickupgroup", "0"},
			Field{"Seconds", strconv.Itoa(int(now.Sub(c.Created) / time.Second))})
		for _, n := range want {
			v := ""
			for _, cv := range c.Variables {
				if cv.Key == n {
					v = cv.Value
				}
			}
			f = append(f, Field{"Variable", n + "=" + v})
		}
		if all {
			for _, cv := range c.Variables {
				f = append(f, Field{"Variable", cv.Key + "=" + cv.Value})
			}
		}
		r.listItemLast("Status", f...)
	}
	r.listComplete("StatusComplete", len(chans))
	// Asterisk appends Items after the list's end fields.
	r.w.b = r.w.b[:len(r.w.b)-2]
	r.w.kvInt("Items", len(chans))
	r.w.end()
}

// sortActions keeps actionOrder sorted by name after this file's actions were added.
func sortActions() {
	sort.Slice(actionOrder, func(i, j int) bool {
		return strings.ToLower(actionOrder[i].name) < strings.ToLower(actionOrder[j].name)
	})
}
