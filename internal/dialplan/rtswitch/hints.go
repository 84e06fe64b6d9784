package rtswitch

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// Realtime hints. Asterisk's extensions table has an INTEGER priority column, so a hint row
// is stored as:
//
//	context | exten | priority | app  | appdata
//	rtctx   | 201   | -1       | hint | PJSIP/alice&Custom:alice[,CustomPresence:alice]
//
// (-1 is dialplan.PriorityHint, the number Asterisk itself gives a hint priority). Also
// accepted: priority -1 with the device list in app and the presence provider in appdata
// (Asterisk's in-memory layout of "exten => 201,hint,PJSIP/alice"), and priority 0 with app
// 'hint' (for tools that refuse negative numbers). Hint rows are never executed: calls start
// at priority 1. exten may be a "_" pattern: Hint then matches it, longest pattern first, as
// a call would; Hints lists only the plain extensions (as the static dialplan does).

// hintRows returns the hint rows of dbctx (priority <= 0), cached like every lookup.
func (s *Switch) hintRows(ctx context.Context, family, dbctx string) ([]realtime.Row, error) {
	s.hintFamilies.Store(strings.ToLower(family), struct{}{})
	load := func(ctx context.Context) ([]realtime.Row, error) {
		rows, err := s.rt.LoadMulti(ctx, family,
			realtime.Field{Name: "context", Value: dbctx},
			realtime.Field{Name: "priority <=", Value: "0"})
		if err != nil {
			return nil, err
		}
		out := rows[:0:0]
		for _, r := range rows {
			if _, _, ok := hintOf(r); ok {
				out = append(out, r)
			}
		}
		slices.SortStableFunc(out, func(a, b realtime.Row) int {
			ea, _ := a.Get("exten")
			eb, _ := b.Get("exten")
			pa, pb := strings.HasPrefix(ea, "_"), strings.HasPrefix(eb, "_")
			switch {
			case pa != pb && pa:
				return 1
			case pa != pb:
				return -1
			case pa && len(ea) != len(eb):
				return len(eb) - len(ea)
			}
			return strings.Compare(ea, eb)
		})
		return out, nil
	}
	c := s.caches.Load()
	if c == nil {
		return load(ctx)
	}
	return c.hints.GetOrLoad(ctx, s.cachedFamily(family), cacheKey("H", dbctx), load)
}

// hintOf returns the device list and presence provider of a hint row.
func hintOf(r realtime.Row) (devices, presence string, ok bool) {
	ps, _ := r.Get("priority")
	prio, err := strconv.Atoi(strings.TrimSpace(ps))
	if err != nil {
		return "", "", false
	}
	app, _ := r.Get("app")
	appdata, _ := r.Get("appdata")
	isHintApp := strings.EqualFold(strings.TrimSpace(app), "hint")
	switch {
	case prio == HintPriority && isHintApp, prio == 0 && isHintApp:
		devices, presence, _ = strings.Cut(appdata, ",")
	case prio == HintPriority:
		devices, presence = app, appdata
	default:
		return "", "", false
	}
	devices = strings.TrimSpace(devices)
	return devices, strings.TrimSpace(presence), devices != ""
}

func toHint(r realtime.Row, exten, context, family string) dialplan.Hint {
	dev, pres, _ := hintOf(r)
	return dialplan.Hint{Exten: exten, Context: context, Devices: dev, Presence: pres, File: "realtime:" + family}
}

// Hint returns the realtime hint of exten for a switch line "Realtime/data" in context: the
// row of that exten, else the first matching pattern row (longest first). The Hint's Context
// is context (where the switch line is), File is "realtime:<family>".
func (s *Switch) Hint(ctx context.Context, context, exten, data string) (dialplan.Hint, bool, error) {
	sp := ParseSpec(data)
	if !s.mapped(sp.Family) {
		return dialplan.Hint{}, false, nil
	}
	rows, err := s.hintRows(ctx, sp.Family, sp.dbContext(context))
	if err != nil {
		return dialplan.Hint{}, false, err
	}
	for _, r := range rows {
		if e, _ := r.Get("exten"); e == exten {
			return toHint(r, exten, context, sp.Family), true, nil
		}
	}
	if sp.NoPatterns {
		return dialplan.Hint{}, false, nil
	}
	for _, r := range rows {
		if e, _ := r.Get("exten"); strings.HasPrefix(e, "_") && dialplan.MatchExtension(e, exten) {
			return toHint(r, exten, context, sp.Family), true, nil
		}
	}
	return dialplan.Hint{}, false, nil
}

// Hints returns the hints of the plain extensions stored for dbContext in family ("" means
// "extensions"), sorted by extension; each Hint's Context is dbContext.
func (s *Switch) Hints(ctx context.Context, dbContext, family string) ([]dialplan.Hint, error) {
	if family == "" {
		family = DefaultFamily
	}
	if !s.mapped(family) {
		return nil, nil
	}
	rows, err := s.hintRows(ctx, family, dbContext)
	if err != nil {
		return nil, err
	}
	var out []dialplan.Hint
	for _, r := range rows {
		e, _ := r.Get("exten")
		if e == "" || strings.HasPrefix(e, "_") {
			continue
		}
		out = append(out, toHint(r, e, dbContext, family))
	}
	return out, nil
}

// DialplanHints returns the realtime hints reachable through every "switch => Realtime/..."
// line of dp, for `core show hints`: for each such line, the plain-extension hints of its
// db_context, reported under the context holding the switch line (File
// "realtime:<family>" marks them). A context's static hint for the same extension shadows a
// realtime one, as a lookup would (static extensions are searched before switches), and each
// exten@context is listed once. Errors of single lines are joined after the rest is listed.
func (s *Switch) DialplanHints(ctx context.Context, dp *dialplan.Dialplan) ([]dialplan.Hint, error) {
	static := map[string]bool{}
	for _, h := range dp.Hints() {
		static[h.Exten+"@"+h.Context] = true
	}
	var out []dialplan.Hint
	var errs []error
	for _, c := range dp.Contexts() {
		for _, sw := range c.Switches {
			if !strings.EqualFold(sw.Name, Name) || sw.Eval {
				continue
			}
			sp := ParseSpec(sw.Data)
			hs, err := s.Hints(ctx, sp.dbContext(c.Name), sp.Family)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, h := range hs {
				key := h.Exten + "@" + c.Name
				if static[key] {
					continue
				}
				static[key] = true
				h.Context = c.Name
				h.Line = sw.Line
				out = append(out, h)
			}
		}
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// LookupHint answers what Engine.Hint cannot for realtime hints: when exten@context resolves
// (through includes) to a Realtime switch, the hint of that switch. Use it after Engine.Hint
// returned false.
func (s *Switch) LookupHint(ctx context.Context, e *dialplan.Engine, context, exten string) (dialplan.Hint, bool, error) {
	f, ok := e.Find(ctx, context, exten, dialplan.PriorityHint, "")
	if !ok || f.Priority != nil || f.Switch == nil || !strings.EqualFold(f.SwitchName, Name) {
		return dialplan.Hint{}, false, nil
	}
	return s.Hint(ctx, f.Context, exten, f.SwitchData)
}
