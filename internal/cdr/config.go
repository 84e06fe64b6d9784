package cdr

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Settings are cdr.conf's [general] options, with Asterisk's defaults.
type Settings struct {
	Enable          bool          // enable (yes)
	Unanswered      bool          // unanswered (no): log calls never answered with no party B
	Congestion      bool          // congestion (no): CONGESTION instead of FAILED
	EndBeforeHExten bool          // endbeforehexten (yes)
	InitiatedSecs   bool          // initiatedseconds (no)
	Batch           bool          // batch (no)
	Size            int           // size (100): records per batch
	Time            time.Duration // time (300 s): longest a batch waits
	SchedulerOnly   bool          // scheduleronly (no): accepted, batches always post on their own goroutine
	SafeShutdown    bool          // safeshutdown (yes): a stop posts the pending batch
}

// DefaultSettings are Asterisk's defaults (cdr.conf absent).
func DefaultSettings() Settings {
	return Settings{Enable: true, EndBeforeHExten: true, Size: 100, Time: 300 * time.Second, SafeShutdown: true}
}

// ErrConfig is wrapped by errors in cdr.conf.
var ErrConfig = errors.New("cdr: bad cdr.conf")

// ParseSettings reads cdr.conf's [general] (nil cfg: defaults). Every bad value is
// reported with its file:line in one pass; unknown options in [general] are returned as
// warnings (Asterisk ignores them).
func ParseSettings(cfg *conf.Config) (Settings, []string, error) {
	s := DefaultSettings()
	if cfg == nil {
		return s, nil, nil
	}
	var errs conf.ErrorList
	var warns []string
	g := cfg.Category("general")
	if g == nil {
		return s, nil, nil
	}
	for _, v := range g.Vars {
		bad := func(what string) {
			errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: strconv.Quote(v.Name) + ": " + strconv.Quote(v.Value) + " is not " + what})
		}
		flag := func(p *bool) {
			switch {
			case conf.IsTrue(v.Value):
				*p = true
			case conf.IsFalse(v.Value):
				*p = false
			default:
				bad("a boolean (yes/no)")
			}
		}
		switch strings.ToLower(v.Name) {
		case "enable":
			flag(&s.Enable)
		case "unanswered":
			flag(&s.Unanswered)
		case "congestion":
			flag(&s.Congestion)
		case "endbeforehexten":
			flag(&s.EndBeforeHExten)
		case "initiatedseconds":
			flag(&s.InitiatedSecs)
		case "batch":
			flag(&s.Batch)
		case "scheduleronly":
			flag(&s.SchedulerOnly)
		case "safeshutdown":
			flag(&s.SafeShutdown)
		case "debug", "channeldefaultenabled", "ignorestatechanges", "ignoredialchanges":
			var b bool
			flag(&b)
		case "size":
			n, err := strconv.Atoi(v.Value)
			if err != nil || n < 1 {
				bad("a positive integer")
				continue
			}
			s.Size = n
		case "time":
			n, err := strconv.Atoi(v.Value)
			if err != nil || n < 1 {
				bad("a positive number of seconds")
				continue
			}
			s.Time = time.Duration(n) * time.Second
		default:
			warns = append(warns, v.File+":"+strconv.Itoa(v.Line)+": unknown option "+strconv.Quote(v.Name)+" in [general]")
		}
	}
	if len(errs) > 0 {
		return s, warns, errors.Join(ErrConfig, errs)
	}
	return s, warns, nil
}
