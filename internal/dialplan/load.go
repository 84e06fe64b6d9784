package dialplan

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// maxStack bounds include depth and the contexts one lookup visits (Asterisk's
// AST_PBX_MAX_STACK).
const maxStack = 512

// Build turns a parsed extensions.conf into a Dialplan. It never fails on content: like
// Asterisk it skips what it cannot use and reports each problem, with its file and line, in
// warnings. globals, when not nil, is the global variable table used to substitute ${...} in
// extension names, includes and switches (the [globals] section is applied to it first).
// An application is warned about when it is not a built-in one (Engine.Load also knows the
// engine's own).
func Build(cfg *conf.Config, globals func(name string) (string, bool)) (*Dialplan, conf.ErrorList) {
	return build(cfg, globals, func(app string) bool { return builtins.apps.get(app) != nil })
}

// build is Build with hasApp telling which applications exist.
func build(cfg *conf.Config, globals func(name string) (string, bool), hasApp func(string) bool) (*Dialplan, conf.ErrorList) {
	b := &builder{dp: &Dialplan{contexts: map[string]*Context{}}, globals: globals, hasApp: hasApp}
	b.dp.Settings.AutoFallthrough = true
	b.dp.Settings.UsersContext = "default"
	if cfg == nil {
		return b.dp, nil
	}
	b.file = cfg.File
	b.general(cfg)
	for _, cat := range cfg.Categories {
		if cat.Template || !strings.EqualFold(cat.Name, "globals") {
			continue
		}
		for _, v := range cat.Vars {
			b.dp.Globals = append(b.dp.Globals, [2]string{v.Name, b.subst(v.Value)})
			b.localGlobals = append(b.localGlobals, [2]string{v.Name, b.dp.Globals[len(b.dp.Globals)-1][1]})
		}
	}
	for _, cat := range cfg.Categories {
		if cat.Template || strings.EqualFold(cat.Name, "general") || strings.EqualFold(cat.Name, "globals") {
			continue
		}
		b.context(cat)
	}
	for _, c := range b.dp.order {
		c.finish()
		for _, inc := range c.Includes {
			inc.ctx = b.dp.contexts[inc.Name]
		}
		for _, e := range c.exts {
			b.dp.nExts++
			b.dp.nPrios += len(e.prios)
			if hp := e.priority(PriorityHint); hp != nil && e.pat == nil {
				dev, pres := splitHint(hp.App)
				b.dp.hints = append(b.dp.hints, Hint{Exten: e.Name, Context: c.Name, Devices: dev, Presence: pres, File: hp.File, Line: hp.Line})
			}
		}
	}
	return b.dp, b.warns
}

type builder struct {
	dp           *Dialplan
	file         string
	warns        conf.ErrorList
	globals      func(string) (string, bool)
	localGlobals [][2]string
	hasApp       func(string) bool
}

func (b *builder) warnf(file string, line int, format string, args ...any) {
	if file == "" {
		file = b.file
	}
	b.warns = append(b.warns, &conf.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (b *builder) general(cfg *conf.Config) {
	g := cfg.Category("general")
	if g == nil {
		return
	}
	s := &b.dp.Settings
	s.Static = conf.IsTrue(g.Get("static"))
	s.WriteProtect = conf.IsTrue(g.Get("writeprotect"))
	s.ClearGlobalVars = conf.IsTrue(g.Get("clearglobalvars"))
	if v, ok := g.Lookup("autofallthrough"); ok {
		s.AutoFallthrough = conf.IsTrue(v)
	}
	if v, ok := g.Lookup("userscontext"); ok && v != "" {
		s.UsersContext = v
	}
}

// globalsEnv resolves ${...} at load time: [globals] of this file, then the running globals.
type globalsEnv struct{ b *builder }

func (g globalsEnv) Var(name string) (string, bool) {
	for i := len(g.b.localGlobals) - 1; i >= 0; i-- {
		if g.b.localGlobals[i][0] == name {
			return g.b.localGlobals[i][1], true
		}
	}
	if g.b.globals != nil {
		return g.b.globals(name)
	}
	return "", false
}

func (g globalsEnv) Func(ctx context.Context, name, args string) (string, error) {
	if strings.EqualFold(name, "GLOBAL") {
		v, _ := g.Var(args)
		return v, nil
	}
	return "", fmt.Errorf("function %s is not available while loading the dialplan", name)
}

func (b *builder) subst(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	out, err := substitute(context.Background(), s, globalsEnv{b})
	if err != nil {
		return s
	}
	return out
}

func (b *builder) context(cat *conf.Category) {
	c := b.dp.contexts[cat.Name]
	if c == nil {
		c = newContext(cat.Name, cat.File, cat.Line)
		b.dp.contexts[cat.Name] = c
		b.dp.order = append(b.dp.order, c)
	}
	lastExten, lastPri := "", -2
	for _, v := range cat.Vars {
		name := strings.ToLower(v.Name)
		switch {
		case name == "exten" || strings.HasPrefix(name, "same"):
			if name != "exten" && name != "same" {
				b.warnf(v.File, v.Line, "==!!== Unknown directive: %s -- IGNORING!!!", v.Name)
				continue
			}
			rest := v.Value
			var ext string
			if name == "exten" {
				ext, rest = cutUnescaped(rest, ',')
				ext = b.subst(strings.TrimSpace(ext))
				lastExten = ext
			} else {
				if lastExten == "" {
					b.warnf(v.File, v.Line, "No previous pattern in the first entry of context '%s' to match '%s'", cat.Name, v.Name)
					continue
				}
				ext = lastExten
			}
			if p, ok := b.exten(c, ext, rest, lastPri, v); ok {
				lastPri = p
			}
		case name == "include":
			b.include(c, b.subst(v.Value), v)
		case name == "ignorepat":
			c.IgnorePats = append(c.IgnorePats, &IgnorePat{Pattern: strings.TrimSpace(b.subst(v.Value)), File: v.File, Line: v.Line})
		case name == "switch" || name == "lswitch" || name == "eswitch":
			val := v.Value
			if name == "switch" {
				val = b.subst(val)
			}
			sw, data, _ := strings.Cut(strings.TrimSpace(val), "/")
			c.Switches = append(c.Switches, &SwitchRef{Name: sw, Data: data, Eval: name == "eswitch", File: v.File, Line: v.Line})
		case name == "autohints":
			// Autohints create hints for devices as they appear; Pleiades has no such
			// devices yet, so the option is accepted and ignored.
		default:
			b.warnf(v.File, v.Line, "==!!== Unknown directive: %s -- IGNORING!!!", v.Name)
		}
	}
}

// cutUnescaped is strsep on sep that honours backslash escapes (pbx_strsep).
func cutUnescaped(s string, sep byte) (before, after string) {
	if strings.IndexByte(s, '\\') < 0 {
		before, after, _ = strings.Cut(s, string(sep))
		return before, after
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			sb.WriteByte(s[i])
		case s[i] == sep:
			return sb.String(), s[i+1:]
		default:
			sb.WriteByte(s[i])
		}
	}
	return sb.String(), ""
}

// exten adds one exten/same line; rest is "priority,App(data)". It returns the priority
// number used (for a following "n").
func (b *builder) exten(c *Context, ext, rest string, lastPri int, v *conf.Variable) (int, bool) {
	name, cid, matchCID := ext, "", false
	if i := strings.IndexByte(ext, '/'); i >= 0 {
		name, cid, matchCID = ext[:i], shrinkNumber(ext[i+1:]), true
	}
	if name == "" {
		b.warnf(v.File, v.Line, "Empty extension name in context '%s'", c.Name)
		return 0, false
	}
	pri, appl, _ := strings.Cut(rest, ",")
	pri = strings.TrimSpace(pri)
	label := ""
	if i := strings.IndexByte(pri, '('); i >= 0 {
		end := strings.IndexByte(pri[i:], ')')
		if end < 0 {
			b.warnf(v.File, v.Line, "Label missing trailing ')'")
			return 0, false
		}
		label = pri[i+1 : i+end]
		pri = pri[:i]
	}
	plus := ""
	if i := strings.IndexByte(pri, '+'); i >= 0 {
		pri, plus = pri[:i], pri[i+1:]
	}
	var ipri int
	switch {
	case pri == "hint":
		ipri = PriorityHint
	case pri == "n" || pri == "next":
		if lastPri <= -2 {
			b.warnf(v.File, v.Line, "Can't use 'next' priority on the first entry!")
			return 0, false
		}
		ipri = lastPri + 1
	case pri == "s" || pri == "same":
		if lastPri <= -2 {
			b.warnf(v.File, v.Line, "Can't use 'same' priority on the first entry!")
			return 0, false
		}
		ipri = lastPri
	default:
		n, err := strconv.Atoi(pri)
		if err != nil {
			// A label of the same extension names its priority.
			if e := c.extension(name, cid, matchCID); e != nil && e.labels[pri] != nil {
				n = e.labels[pri].Priority
			} else {
				b.warnf(v.File, v.Line, "Invalid priority/label '%s'", pri)
				return 0, false
			}
		}
		if n < 1 {
			b.warnf(v.File, v.Line, "Invalid priority '%s'", pri)
			return 0, false
		}
		ipri = n
	}
	if plus != "" {
		n, _ := strconv.Atoi(plus)
		ipri += n
	}
	app, data := splitExtenApp(appl, ipri == PriorityHint)
	p := &Priority{Priority: ipri, Label: label, App: app, Data: data, File: v.File, Line: v.Line}
	if p.File == "" {
		p.File = b.file
	}
	if name == "_." || name == "_!" {
		b.warnf(v.File, v.Line, "The use of '%s' for an extension is strongly discouraged and can have unexpected behavior.  Please use '_X%c' instead", name, name[1])
	}
	e := c.extension(name, cid, matchCID)
	if e == nil {
		e = c.addExtension(name, cid, matchCID)
		if e.pat != nil && e.pat.bad {
			b.warnf(v.File, v.Line, "Wrong usage of [] in the extension '%s': it will never match", name)
		}
	}
	if label != "" {
		if old := e.labels[label]; old != nil && old.Priority != ipri {
			b.warnf(v.File, v.Line, "Extension '%s' priority %d in '%s', label '%s' already in use at priority %d", name, ipri, c.Name, label, old.Priority)
			p.Label = ""
		}
	}
	if !e.addPriority(p) {
		b.warnf(v.File, v.Line, "Unable to register extension '%s' priority %d in '%s', already in use", name, ipri, c.Name)
		return ipri, true
	}
	if ipri != PriorityHint && app != "" && !b.hasApp(app) {
		b.warnf(v.File, v.Line, "Unknown application '%s' in extension '%s' priority %d of context '%s' (the call will hang up there)", app, name, ipri, c.Name)
	}
	return ipri, true
}

// splitExtenApp splits "App(data)" as pbx_config does: the application is what precedes the
// first '(' and the data runs to the last ')'. Pleiades also accepts the old "App,data" form
// (Asterisk would look for an application named "App,data"). A hint keeps its whole text.
func splitExtenApp(s string, hint bool) (app, data string) {
	s = strings.TrimLeft(s, " \t")
	if hint {
		return strings.TrimSpace(s), ""
	}
	i := strings.IndexByte(s, '(')
	if i < 0 {
		if a, d, ok := strings.Cut(s, ","); ok {
			return strings.TrimSpace(a), d
		}
		return strings.TrimSpace(s), ""
	}
	if strings.Contains(s[:i], "${") || strings.Contains(s[:i], "$[") {
		return strings.TrimSpace(s), ""
	}
	app, data = s[:i], s[i+1:]
	if j := strings.LastIndexByte(data, ')'); j >= 0 {
		data = data[:j]
	}
	return strings.TrimSpace(app), data
}

// shrinkNumber removes the decoration ast_shrink_phone_number removes from a Caller ID match:
// spaces, parentheses, and dashes and dots outside patterns.
func shrinkNumber(s string) string {
	pat := isPattern(s)
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '(', ')':
		case '-', '.':
			if pat {
				sb.WriteByte(c)
			}
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

func (b *builder) include(c *Context, val string, v *conf.Variable) {
	val = strings.TrimSpace(val)
	name, spec := val, ""
	if i := strings.IndexAny(val, ",|"); i >= 0 {
		name, spec = strings.TrimSpace(val[:i]), val[i+1:]
	}
	for _, inc := range c.Includes {
		if inc.Spec == val {
			b.warnf(v.File, v.Line, "Context '%s' already included in '%s' context on include", val, c.Name)
			return
		}
	}
	inc := &Include{Name: name, Spec: val, File: v.File, Line: v.Line}
	if spec != "" {
		t, warns, err := ParseTiming(spec)
		for _, w := range warns {
			b.warnf(v.File, v.Line, "%s", w)
		}
		if err != nil {
			b.warnf(v.File, v.Line, "include '%s': %v; the include is ignored", val, err)
			return
		}
		inc.Timing = t
	}
	c.Includes = append(c.Includes, inc)
}
