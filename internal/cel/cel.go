package cel

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// The event types (Asterisk's enum ast_cel_event_type names).
const (
	ChanStart   = "CHAN_START"
	ChanEnd     = "CHAN_END"
	Answer      = "ANSWER"
	Hangup      = "HANGUP"
	AppStart    = "APP_START"
	AppEnd      = "APP_END"
	BridgeEnter = "BRIDGE_ENTER"
	BridgeExit  = "BRIDGE_EXIT"
	LinkedIDEnd = "LINKEDID_END"
)

// known are the names events= accepts (Asterisk's cel_event_types).
var known = map[string]bool{"ALL": true, ChanStart: true, ChanEnd: true, Answer: true, Hangup: true, AppStart: true, AppEnd: true,
	"PARK_START": true, "PARK_END": true, "USER_DEFINED": true, BridgeEnter: true, BridgeExit: true, "BLINDTRANSFER": true,
	"ATTENDEDTRANSFER": true, "PICKUP": true, "FORWARD": true, LinkedIDEnd: true, "LOCAL_OPTIMIZE": true, "LOCAL_OPTIMIZE_BEGIN": true,
	"STREAM_BEGIN": true, "STREAM_END": true, "DTMF": true}

// Settings are cel.conf's [general] and [manager].
type Settings struct {
	Enable     bool            // enable (no)
	Events     map[string]bool // events=, "ALL" for every event
	Apps       map[string]bool // apps= (lower case), "all" for every application
	DateFormat string          // dateformat (strftime); "" gives "<epoch>.<usec>"
	Manager    bool            // [manager] enabled
}

// ErrConfig is wrapped by errors in cel.conf.
var ErrConfig = errors.New("cel: bad cel.conf")

// ParseSettings reads cel.conf (nil: CEL off), every bad value with its file:line.
func ParseSettings(cfg *conf.Config) (Settings, error) {
	s := Settings{Events: map[string]bool{}, Apps: map[string]bool{}}
	if cfg == nil {
		return s, nil
	}
	var errs conf.ErrorList
	g := cfg.Category("general")
	if g != nil {
		for _, v := range g.Vars {
			switch strings.ToLower(v.Name) {
			case "enable":
				switch {
				case conf.IsTrue(v.Value):
					s.Enable = true
				case conf.IsFalse(v.Value):
					s.Enable = false
				default:
					errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: strconv.Quote(v.Value) + " is not a boolean (yes/no)"})
				}
			case "events":
				for _, e := range strings.Split(v.Value, ",") {
					e = strings.ToUpper(strings.TrimSpace(e))
					if e == "" {
						continue
					}
					if !known[e] {
						errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: "unknown event " + strconv.Quote(e)})
						continue
					}
					s.Events[e] = true
				}
			case "apps":
				for _, a := range strings.Split(v.Value, ",") {
					if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
						s.Apps[a] = true
					}
				}
			case "dateformat":
				s.DateFormat = v.Value
			}
		}
	}
	if m := cfg.Category("manager"); m != nil {
		on, err := m.Bool("enabled", false)
		if err != nil {
			errs = append(errs, err.(*conf.Error))
		}
		s.Manager = on
	}
	if len(errs) > 0 {
		return s, errors.Join(ErrConfig, errs)
	}
	return s, nil
}

// Event is one CEL event with the cel table's fields.
type Event struct {
	Type                     string
	Time                     time.Time
	CIDName, CIDNum, CIDANI  string
	CIDRDNIS, CIDDNID        string
	Exten, Context, Channel  string
	AppName, AppData         string
	AMAFlags                 int
	AccountCode, PeerAccount string
	UniqueID, LinkedID       string
	UserField, Peer, Extra   string
}

// Sink receives events; it must not block (cel_manager publishes to AMI).
type Sink func(Event)

// Engine makes CEL events from channel events.
type Engine struct {
	mu     sync.Mutex
	set    Settings
	sinks  []Sink
	app    map[string][2]string // unique ID -> running watched application (name, data)
	linked map[string]int       // linked ID -> channels alive
	snaps  map[string]channel.Snapshot
	now    func() time.Time
}

// New returns an engine with settings s.
func New(s Settings) *Engine {
	return &Engine{set: s, app: map[string][2]string{}, linked: map[string]int{}, snaps: map[string]channel.Snapshot{}, now: time.Now}
}

// SetSettings changes the settings (a reload).
func (e *Engine) SetSettings(s Settings) {
	e.mu.Lock()
	e.set = s
	e.mu.Unlock()
}

// Settings returns the settings.
func (e *Engine) Settings() Settings {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.set
}

// AddSink adds a receiver of events.
func (e *Engine) AddSink(s Sink) {
	e.mu.Lock()
	e.sinks = append(e.sinks, s)
	e.mu.Unlock()
}

// ClearSinks removes every receiver (a reload adds them again).
func (e *Engine) ClearSinks() {
	e.mu.Lock()
	e.sinks = nil
	e.mu.Unlock()
}

func (e *Engine) wants(typ string) bool {
	return e.set.Enable && (e.set.Events["ALL"] || e.set.Events[typ])
}

func (e *Engine) watches(app string) bool {
	return e.set.Apps["all"] || e.set.Apps[strings.ToLower(app)]
}

func (e *Engine) make(typ string, s channel.Snapshot, now time.Time) Event {
	return Event{Type: typ, Time: now, CIDName: s.CallerName, CIDNum: s.CallerNum, CIDANI: s.CallerNum, Exten: s.Exten,
		Context: s.Context, Channel: s.Name, AppName: s.Application, AppData: s.AppData, AMAFlags: 3,
		AccountCode: s.AccountCode, UniqueID: s.UniqueID, LinkedID: s.LinkedID}
}

// idleLocked reports whether CEL is off (cel.conf enable=no, the default): the engine then
// follows no channel, so that a call pays nothing for it, and forgets those it followed.
// A reload that turns CEL on records the channels created from then on; one already up
// gives its later events, without LINKEDID_END.
func (e *Engine) idleLocked() bool {
	if e.set.Enable {
		return false
	}
	if len(e.snaps) > 0 || len(e.app) > 0 || len(e.linked) > 0 {
		clear(e.snaps)
		clear(e.app)
		clear(e.linked)
	}
	return true
}

// Handle applies one channel event.
func (e *Engine) Handle(ev channel.Event) {
	e.mu.Lock()
	if e.idleLocked() {
		e.mu.Unlock()
		return
	}
	now := e.now()
	var out []Event
	add := func(x Event) {
		if e.wants(x.Type) {
			out = append(out, x)
		}
	}
	s := ev.Channel
	switch ev.Kind {
	case channel.EventNewchannel:
		e.linked[s.LinkedID]++
		e.snaps[s.UniqueID] = s
		add(e.make(ChanStart, s, now))
	case channel.EventNewstate:
		if s.State == channel.Up && e.snaps[s.UniqueID].State != channel.Up {
			add(e.make(Answer, s, now))
		}
		e.snaps[s.UniqueID] = s
	case channel.EventBridgeEnter, channel.EventBridgeLeave:
		typ := BridgeEnter
		if ev.Kind == channel.EventBridgeLeave {
			typ = BridgeExit
		}
		x := e.make(typ, s, now)
		x.Extra = fmt.Sprintf(`{"bridge_id":"%s","bridge_technology":"%s"}`, ev.Bridge.UniqueID, ev.Bridge.Technology)
		add(x)
	case channel.EventHangup:
		if a, ok := e.app[s.UniqueID]; ok {
			x := e.make(AppEnd, s, now)
			x.AppName, x.AppData = a[0], a[1]
			add(x)
			delete(e.app, s.UniqueID)
		}
		x := e.make(Hangup, s, now)
		x.Extra = fmt.Sprintf(`{"hangupcause":%d,"hangupsource":"","dialstatus":""}`, int(ev.Cause))
		add(x)
		add(e.make(ChanEnd, s, now))
		delete(e.snaps, s.UniqueID)
		if _, ok := e.linked[s.LinkedID]; ok {
			e.linked[s.LinkedID]--
			if e.linked[s.LinkedID] <= 0 {
				delete(e.linked, s.LinkedID)
				add(e.make(LinkedIDEnd, s, now))
			}
		}
	}
	sinks := e.sinks
	e.mu.Unlock()
	for _, x := range out {
		for _, sk := range sinks {
			sk(x)
		}
	}
}

// App records that a channel started an application (the dialplan's OnApp): APP_END of the
// previous watched one, APP_START of this one when apps= lists it.
func (e *Engine) App(leg *channel.Channel, app, data string) {
	e.mu.Lock()
	if e.idleLocked() {
		e.mu.Unlock()
		return
	}
	now := e.now()
	s := leg.Snapshot()
	var out []Event
	if a, ok := e.app[s.UniqueID]; ok {
		delete(e.app, s.UniqueID)
		if e.wants(AppEnd) {
			x := e.make(AppEnd, s, now)
			x.AppName, x.AppData = a[0], a[1]
			out = append(out, x)
		}
	}
	if e.watches(app) {
		e.app[s.UniqueID] = [2]string{app, data}
		if e.wants(AppStart) {
			x := e.make(AppStart, s, now)
			x.AppName, x.AppData = app, data
			out = append(out, x)
		}
	}
	sinks := e.sinks
	e.mu.Unlock()
	for _, x := range out {
		for _, sk := range sinks {
			sk(x)
		}
	}
}

// FormatTime prints an event time with cel.conf's dateformat (a strftime subset: %Y %m %d
// %H %M %S %F %T %s %z %%), or "<epoch>.<usec>" without one, as cel_manager does.
func FormatTime(t time.Time, format string) string {
	if format == "" {
		return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			b.WriteString(t.Format("2006"))
		case 'm':
			b.WriteString(t.Format("01"))
		case 'd':
			b.WriteString(t.Format("02"))
		case 'H':
			b.WriteString(t.Format("15"))
		case 'M':
			b.WriteString(t.Format("04"))
		case 'S':
			b.WriteString(t.Format("05"))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 's':
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
