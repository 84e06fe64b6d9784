package dialplan

import (
	"sort"
	"strings"
)

// PriorityHint is the priority number of a hint ("exten => 1234,hint,SIP/alice").
const PriorityHint = -1

// Registrar is the name every context, include and switch loaded from extensions.conf is
// registered under, as `dialplan show` prints it.
const Registrar = "pbx_config"

// Priority is one step of an extension.
type Priority struct {
	Exten    *Extension
	Priority int
	Label    string
	App      string
	Data     string
	File     string
	Line     int
}

// Extension is one extension (a name, or a "_" pattern, with an optional Caller ID match)
// and its priorities.
type Extension struct {
	Context *Context
	// Name is the extension as written (dashes kept, "_" for patterns).
	Name string
	// CID is the Caller ID pattern after "/"; MatchCID is true when there was a "/".
	CID      string
	MatchCID bool

	key    string // Name without dashes
	pat    *pattern
	prios  []*Priority
	labels map[string]*Priority
}

// Priorities returns the extension's priorities in order (a hint first).
func (e *Extension) Priorities() []*Priority { return e.prios }

// IsPattern reports whether the extension is a pattern.
func (e *Extension) IsPattern() bool { return e.pat != nil }

func (e *Extension) priority(n int) *Priority {
	// Extensions have few priorities; a binary search keeps long ones cheap too.
	i := sort.Search(len(e.prios), func(i int) bool { return e.prios[i].Priority >= n })
	if i < len(e.prios) && e.prios[i].Priority == n {
		return e.prios[i]
	}
	return nil
}

func (e *Extension) find(n int, label string) *Priority {
	if label != "" {
		return e.labels[label]
	}
	return e.priority(n)
}

func (e *Extension) cidMatches(callerID string) bool {
	if !e.MatchCID {
		return true
	}
	if callerID == "" {
		return e.CID == ""
	}
	return extenMatch(e.CID, callerID, modeMatch) > 0
}

// Include is one include => line.
type Include struct {
	// Name is the included context; Spec the whole value as written.
	Name   string
	Spec   string
	Timing *Timing // nil: always
	File   string
	Line   int
	ctx    *Context
}

// SwitchRef is one switch => Name/data line of a context.
type SwitchRef struct {
	Name string
	Data string
	// Eval is true for eswitch: the data is substituted with the channel's variables at
	// lookup time.
	Eval bool
	File string
	Line int
}

// IgnorePat is one ignorepat => line.
type IgnorePat struct {
	Pattern string
	File    string
	Line    int
}

// Context is one dialplan context.
type Context struct {
	Name       string
	Registrar  string
	File       string
	Line       int
	Includes   []*Include
	Switches   []*SwitchRef
	IgnorePats []*IgnorePat

	exts      []*Extension            // every extension in Asterisk's order
	exact     map[string][]*Extension // plain extensions by name without dashes; CID variants first
	exactKeys []string                // sorted keys of exact, for CanMatch/MatchMore prefix scans
	byPattern map[string][]*Extension // patterns by name, for lookups of a pattern itself
	patterns  []*Extension            // patterns in Asterisk's order
	// index narrows the patterns to try by the first character dialled: bucket c holds the
	// positions (in patterns) of those whose first element accepts c. nil for small lists.
	index *patIndex
}

// Extensions returns the context's extensions in Asterisk's order (plain before patterns).
func (c *Context) Extensions() []*Extension { return c.exts }

type patIndex struct {
	off  [257]int32
	list []int32
}

const indexMinPatterns = 8

func (c *Context) buildIndex() {
	c.index = nil
	if len(c.patterns) < indexMinPatterns {
		return
	}
	ix := &patIndex{}
	var counts [256]int32
	for _, e := range c.patterns {
		first, ok := e.pat.firstSet()
		for b := 0; b < 256; b++ {
			if !ok || first.has(byte(b)) {
				counts[b]++
			}
		}
	}
	for b := 0; b < 256; b++ {
		ix.off[b+1] = ix.off[b] + counts[b]
	}
	ix.list = make([]int32, ix.off[256])
	fill := ix.off
	for i, e := range c.patterns {
		first, ok := e.pat.firstSet()
		for b := 0; b < 256; b++ {
			if !ok || first.has(byte(b)) {
				ix.list[fill[b]] = int32(i)
				fill[b]++
			}
		}
	}
	c.index = ix
}

// Hint is one hint of the dialplan.
type Hint struct {
	Exten   string
	Context string
	// Devices is the device list as written ("SIP/alice&Custom:x").
	Devices string
	// Presence is the presence provider after a comma, or "".
	Presence string
	File     string
	Line     int
}

// Settings are extensions.conf's [general] options.
type Settings struct {
	Static          bool
	WriteProtect    bool
	ClearGlobalVars bool
	AutoFallthrough bool
	// UsersContext is [general] userscontext (default "default").
	UsersContext string
}

// Dialplan is one loaded, immutable dialplan. An Engine swaps whole Dialplans on reload, so
// readers never lock.
type Dialplan struct {
	Settings Settings
	// Globals are [globals] in order (values substituted at load).
	Globals  [][2]string
	contexts map[string]*Context
	order    []*Context
	hints    []Hint
	nExts    int
	nPrios   int
}

// Context returns the named context (names are case-sensitive, as in Asterisk), or nil.
func (d *Dialplan) Context(name string) *Context { return d.contexts[name] }

// Contexts returns the contexts in load order.
func (d *Dialplan) Contexts() []*Context { return d.order }

// Hints returns the hints of plain (non-pattern) extensions, in load order.
func (d *Dialplan) Hints() []Hint { return d.hints }

// Counts returns the number of contexts, extensions and priorities (hints included).
func (d *Dialplan) Counts() (contexts, extensions, priorities int) {
	return len(d.order), d.nExts, d.nPrios
}

func newContext(name, file string, line int) *Context {
	return &Context{Name: name, Registrar: Registrar, File: file, Line: line,
		exact: map[string][]*Extension{}}
}

// finish sorts and indexes a context once all its extensions are added.
func (c *Context) finish() {
	sort.SliceStable(c.exts, func(i, j int) bool { return compareExt(c.exts[i], c.exts[j]) < 0 })
	c.patterns = c.patterns[:0]
	c.exactKeys = c.exactKeys[:0]
	for _, e := range c.exts {
		if e.pat != nil {
			c.patterns = append(c.patterns, e)
		}
	}
	for k, list := range c.exact {
		c.exactKeys = append(c.exactKeys, k)
		sort.SliceStable(list, func(i, j int) bool { return compareExt(list[i], list[j]) < 0 })
	}
	sort.Strings(c.exactKeys)
	c.buildIndex()
}

// compareExt is Asterisk's order of extension roots: by name (ext_cmp); for equal names, one
// with a Caller ID match before one without, and Caller ID patterns by ext_cmp.
func compareExt(a, b *Extension) int {
	var r int
	switch {
	case a.pat != nil && b.pat != nil:
		r = comparePatterns(a.pat, b.pat)
	default:
		r = compareExtens(a.Name, b.Name)
	}
	if r != 0 {
		return r
	}
	switch {
	case a.MatchCID && !b.MatchCID:
		return -1
	case !a.MatchCID && b.MatchCID:
		return 1
	case !a.MatchCID:
		return 0
	}
	return compareExtens(a.CID, b.CID)
}

// extension returns the extension named name with that Caller ID match, or nil.
func (c *Context) extension(name, cid string, matchCID bool) *Extension {
	var list []*Extension
	if isPattern(name) {
		list = c.byPattern[name]
	} else {
		list = c.exact[stripDashes(name)]
	}
	for _, e := range list {
		if e.Name == name && e.MatchCID == matchCID && e.CID == cid {
			return e
		}
	}
	return nil
}

func (c *Context) addExtension(name, cid string, matchCID bool) *Extension {
	e := &Extension{Context: c, Name: name, CID: cid, MatchCID: matchCID, key: stripDashes(name)}
	if isPattern(name) {
		e.pat = compilePattern(name[1:])
		if c.byPattern == nil {
			c.byPattern = map[string][]*Extension{}
		}
		c.byPattern[name] = append(c.byPattern[name], e)
	} else {
		c.exact[e.key] = append(c.exact[e.key], e)
	}
	c.exts = append(c.exts, e)
	return e
}

// addPriority inserts p in order; it reports false when the priority is taken.
func (e *Extension) addPriority(p *Priority) bool {
	i := sort.Search(len(e.prios), func(i int) bool { return e.prios[i].Priority >= p.Priority })
	if i < len(e.prios) && e.prios[i].Priority == p.Priority {
		return false
	}
	e.prios = append(e.prios, nil)
	copy(e.prios[i+1:], e.prios[i:])
	e.prios[i] = p
	p.Exten = e
	if p.Label != "" {
		if e.labels == nil {
			e.labels = map[string]*Priority{}
		}
		e.labels[p.Label] = p
	}
	return true
}

func splitHint(s string) (devices, presence string) {
	devices, presence, _ = strings.Cut(s, ",")
	return devices, presence
}
