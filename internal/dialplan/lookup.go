package dialplan

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Found is the result of a lookup: a priority of the static dialplan, or a switch that
// claimed the extension.
type Found struct {
	// Context is the context the extension was found in (an included one, perhaps).
	Context string
	// Priority is set when the static dialplan has the extension.
	Priority *Priority
	// Switch is set when a switch claimed the extension instead (Priority is nil).
	Switch     Switch
	SwitchName string
	SwitchData string
}

// query is one search through contexts (Asterisk's pbx_find_info).
type query struct {
	e       *Engine // whose switches a lookup asks
	ctx     context.Context
	dp      *Dialplan
	now     time.Time
	log     *slog.Logger
	ch      *Channel // may be nil; used for eswitch data
	visited []*Context
	found   Found
}

// find is pbx_find_extension: the context's own extensions in Asterisk's order, then its
// switches, then its includes depth-first (each context searched once per lookup).
func (q *query) find(c *Context, exten string, prio int, label, cid string, mode matchMode) *Priority {
	if len(q.visited) >= maxStack {
		if q.log != nil {
			q.log.Warn("Maximum PBX stack exceeded. Too many includes?", "context", c.Name)
		}
		return nil
	}
	for _, v := range q.visited {
		if v == c {
			return nil
		}
	}
	if p, final := c.findOwn(exten, prio, label, cid, mode); p != nil || final {
		if p != nil {
			q.found.Context = c.Name
		}
		return p
	}
	for _, sw := range c.Switches {
		if q.trySwitch(c, sw, exten, prio, cid, mode) {
			return nil
		}
	}
	q.visited = append(q.visited, c)
	for _, inc := range c.Includes {
		if inc.ctx == nil || !inc.Timing.Check(q.now) {
			continue
		}
		if p := q.find(inc.ctx, exten, prio, label, cid, mode); p != nil {
			return p
		}
		if q.found.Switch != nil {
			return nil
		}
	}
	return nil
}

// findOwn searches the context's own extensions. final is true when the search must stop
// without a result (a MatchMore that met a pattern ending in '!').
func (c *Context) findOwn(exten string, prio int, label, cid string, mode matchMode) (p *Priority, final bool) {
	if mode == modeMatch {
		if isPattern(exten) {
			for _, e := range c.byPattern[exten] {
				if e.cidMatches(cid) {
					if p := e.find(prio, label); p != nil {
						return p, false
					}
				}
			}
		}
		for _, e := range c.exact[exten] {
			if e.cidMatches(cid) {
				if p := e.find(prio, label); p != nil {
					return p, false
				}
			}
		}
	} else {
		keys := c.exactKeys
		for i := sort.SearchStrings(keys, exten); i < len(keys) && strings.HasPrefix(keys[i], exten); i++ {
			if mode == modeMatchMore && len(keys[i]) == len(exten) {
				continue
			}
			for _, e := range c.exact[keys[i]] {
				if e.cidMatches(cid) {
					if p := e.find(prio, label); p != nil {
						return p, false
					}
				}
			}
		}
	}
	try := func(e *Extension) (*Priority, bool) {
		r := e.pat.match(exten, mode)
		if r == 0 || !e.cidMatches(cid) {
			return nil, false
		}
		if r == 2 && mode == modeMatchMore {
			return nil, true
		}
		return e.find(prio, label), false
	}
	if c.index != nil && exten != "" {
		b := exten[0]
		for _, i := range c.index.list[c.index.off[b]:c.index.off[b+1]] {
			if p, final := try(c.patterns[i]); p != nil || final {
				return p, final
			}
		}
		return nil, false
	}
	for _, e := range c.patterns {
		if p, final := try(e); p != nil || final {
			return p, final
		}
	}
	return nil, false
}

func (q *query) trySwitch(c *Context, ref *SwitchRef, exten string, prio int, cid string, mode matchMode) bool {
	var sw Switch
	if q.e != nil {
		sw = q.e.LookupSwitch(ref.Name)
	}
	if sw == nil {
		if q.log != nil {
			q.log.Warn("No such switch '" + ref.Name + "'")
		}
		return false
	}
	data := ref.Data
	if ref.Eval && q.ch != nil {
		if s, err := substitute(q.ctx, data, q.ch.env()); err == nil {
			data = s
		}
	}
	var ok bool
	var err error
	switch mode {
	case modeCanMatch:
		ok, err = sw.CanMatch(q.ctx, c.Name, exten, prio, cid, data)
	case modeMatchMore:
		ok, err = sw.MatchMore(q.ctx, c.Name, exten, prio, cid, data)
	default:
		ok, err = sw.Exists(q.ctx, c.Name, exten, prio, cid, data)
	}
	if err != nil {
		if q.log != nil {
			q.log.Warn("Switch "+ref.Name+"/"+ref.Data+" failed", "context", c.Name, "exten", exten, "error", err)
		}
		return false
	}
	if ok {
		q.found = Found{Context: c.Name, Switch: sw, SwitchName: ref.Name, SwitchData: data}
	}
	return ok
}

// Find looks up context/exten at priority (or at the priority labelled label when label is
// not empty) for a caller with Caller ID number callerID, across includes and switches.
// ok is false when neither the dialplan nor a switch has it.
func (d *Dialplan) find(ctx context.Context, q *query, contextName, exten string, prio int, label, callerID string, mode matchMode) (Found, bool) {
	c := d.contexts[contextName]
	if c == nil {
		return Found{}, false
	}
	q.ctx, q.dp = ctx, d
	exten = stripDashes(exten)
	if p := q.find(c, exten, prio, label, callerID, mode); p != nil {
		q.found.Priority = p
		return q.found, true
	}
	return q.found, q.found.Switch != nil
}
