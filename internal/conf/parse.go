package conf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// MaxIncludeDepth is how deeply #include, #tryinclude and #exec may nest (Asterisk's
// MAX_INCLUDE_LEVEL).
const MaxIncludeDepth = 10

// maxErrors bounds the errors collected in one pass; one more says that there were more.
const maxErrors = 100

// Load reads the configuration file path and everything it includes. A relative path is
// taken relative to opts.Dir when that is set. See LoadContext.
func Load(path string, opts Options) (*Config, error) {
	return LoadContext(context.Background(), path, opts)
}

// LoadContext is Load with a context, which is passed to Options.Static and bounds #exec
// commands. Options.Static, when set, is asked first for path (as given); when it answers
// mapped=false the file is read from disk. On error the result is nil and the error is an
// ErrorList.
func LoadContext(ctx context.Context, path string, opts Options) (*Config, error) {
	l := newLoader(ctx, opts)
	if opts.Static != nil {
		sc, mapped, err := opts.Static.LoadStatic(ctx, path)
		if err != nil {
			return nil, ErrorList{{File: path, Msg: "static configuration: " + err.Error()}}
		}
		if mapped {
			out := &Config{File: path}
			if sc != nil {
				out.Categories = sc.Clone().Categories
			}
			return out, nil
		}
	}
	full := path
	if !filepath.IsAbs(full) && opts.Dir != "" {
		full = filepath.Join(opts.Dir, full)
	}
	if l.dir == "" {
		l.dir = filepath.Dir(full)
	}
	data, err := readRegular(full)
	if err != nil {
		return nil, ErrorList{{File: full, Msg: ioReason(err)}}
	}
	l.cfg.File = path
	l.push(full)
	l.parseFile(full, data, nil, false)
	return l.result()
}

// Parse parses data as the configuration file name. #include names are resolved relative
// to opts.Dir or, when that is empty, to the directory of name.
func Parse(name string, data []byte, opts Options) (*Config, error) {
	return ParseContext(context.Background(), name, data, opts)
}

// ParseContext is Parse with a context (see LoadContext).
func ParseContext(ctx context.Context, name string, data []byte, opts Options) (*Config, error) {
	l := newLoader(ctx, opts)
	if l.dir == "" {
		l.dir = filepath.Dir(name)
	}
	l.cfg.File = name
	l.push(name)
	l.parseFile(name, data, nil, false)
	return l.result()
}

// loader holds the state of one Load or Parse, across every file it includes.
type loader struct {
	ctx   context.Context
	opts  Options
	dir   string
	cfg   *Config
	errs  ErrorList
	stack []string // files being read, outermost first, for loop detection
	// current is Asterisk's cfg->current: the category last opened or appended to with (+),
	// in whatever file. An included file starts in it.
	current *Category

	byName  map[string][]*Category // lower-cased name -> categories of that name, in order
	names   map[string]string      // interned variable names
	slab    []Variable             // Variables are allocated in blocks
	scratch []byte
}

func newLoader(ctx context.Context, opts Options) *loader {
	return &loader{
		ctx:    ctx,
		opts:   opts,
		dir:    opts.Dir,
		cfg:    &Config{},
		byName: make(map[string][]*Category),
		names:  make(map[string]string),
	}
}

func (l *loader) result() (*Config, error) {
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	return l.cfg, nil
}

func (l *loader) push(name string) {
	if abs, err := filepath.Abs(name); err == nil {
		name = abs
	}
	l.stack = append(l.stack, name)
}

// full reports whether no more errors are collected.
func (l *loader) full() bool { return len(l.errs) > maxErrors }

func (l *loader) errorf(file string, line int, format string, args ...any) {
	if l.full() {
		return
	}
	if len(l.errs) == maxErrors {
		l.errs = append(l.errs, &Error{File: file, Line: line, Msg: "too many errors"})
		return
	}
	l.errs = append(l.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(file string, line int, format string, args ...any) {
	l.cfg.Warnings = append(l.cfg.Warnings, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// fileState is the state of one file being parsed.
type fileState struct {
	name   string
	data   []byte // the file's bytes (after a BOM)
	str    string // the same bytes as a string; values that need no rewriting are cut from it
	line   int
	cat    *Category
	skip   bool  // drop variables silently: the category header before them was bad
	starts []int // lines where the open block comments began, outermost first
}

// string returns b as a string. b is the result of uncomment: a piece of fs.data, or a piece of
// l.scratch when owned is set.
func (fs *fileState) string(b []byte, owned bool) string {
	if owned {
		return string(b)
	}
	// b shares fs.data's array and its capacity runs to the array's end (fs.data is clipped
	// and no piece is cut with a three-index slice), so its offset follows from its capacity.
	off := cap(fs.data) - cap(b)
	if off < 0 || off+len(b) > len(fs.str) {
		return string(b)
	}
	return fs.str[off : off+len(b)]
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// parseFile parses one file's content, starting in category cat (nil at the top, else the
// category current where it is included), and returns the category it ended in, which the
// next file of a glob starts in.
func (l *loader) parseFile(name string, data []byte, cat *Category, skip bool) (*Category, bool) {
	data = bytes.TrimPrefix(data, utf8BOM)
	data = data[:len(data):len(data)]
	fs := &fileState{name: name, data: data, str: string(data), cat: cat, skip: skip}
	rest := data
	for len(rest) > 0 && !l.full() {
		fs.line++
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		text, owned, ok := l.uncomment(fs, line)
		if !ok {
			continue
		}
		text = trimSpace(text)
		if len(text) == 0 {
			continue
		}
		switch text[0] {
		case '[':
			l.header(fs, text, owned)
		case '#':
			l.directive(fs, text, owned)
		default:
			l.variable(fs, text, owned)
		}
	}
	if len(fs.starts) > 0 {
		l.errorf(name, fs.starts[0], "unterminated block comment (;-- without --;)")
	}
	return fs.cat, fs.skip
}

// uncomment removes comments from line, following Asterisk: ";" starts a comment to the end
// of the line, "\;" is a literal ";" (the backslash is dropped), ";--" (but not ";---") opens
// a block comment and "--;" closes one; block comments nest. ok is false when nothing of the
// line is outside a block comment. owned is set when the result is in l.scratch.
func (l *loader) uncomment(fs *fileState, line []byte) (text []byte, owned, ok bool) {
	if bytes.IndexByte(line, ';') < 0 {
		if len(fs.starts) > 0 {
			return nil, false, false
		}
		return line, false, true
	}
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	out := l.scratch[:0]
	keep := len(fs.starts) == 0 // collecting text (outside a block comment)
	had := keep                 // some of the line was outside a block comment
	seg := 0                    // start of the text being collected
	nb := 0                     // where the search for the next ';' starts
	modified := false
	for {
		q := bytes.IndexByte(line[nb:], ';')
		if q < 0 {
			break
		}
		p := nb + q
		switch {
		case p > nb && line[p-1] == '\\': // "\;"
			if keep {
				out = append(out, line[seg:p-1]...)
				seg = p
				modified = true
			}
			nb = p + 1
			continue
		case at(p+1) == '-' && at(p+2) == '-' && at(p+3) != '-': // ";--"
			if keep {
				out = append(out, line[seg:p]...)
				keep = false
			}
			fs.starts = append(fs.starts, fs.line)
			nb = p + 3
			continue
		case len(fs.starts) > 0 && p >= nb+2 && line[p-1] == '-' && line[p-2] == '-': // "--;"
			fs.starts = fs.starts[:len(fs.starts)-1]
			nb = p + 1
			if len(fs.starts) == 0 {
				if had {
					modified = true
				}
				keep, had, seg = true, true, p+1
			}
			continue
		}
		// A plain ';' (a stray "--;" outside a block comment is one too).
		if keep {
			out = append(out, line[seg:p]...)
			keep = false
			break
		}
		nb = p + 1
	}
	if keep {
		out = append(out, line[seg:]...)
	}
	l.scratch = out
	if !had {
		return nil, false, false
	}
	if !modified {
		// The text is one piece of line: return it as such, so that it can be cut from fs.str.
		return line[seg : seg+len(out)], false, true
	}
	return out, true, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// trimSpace removes C isspace() characters from both ends, as Asterisk's ast_strip does.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// trimSpaceString is trimSpace for strings.
func trimSpaceString(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func lower(s string) string { return strings.ToLower(s) }

// header handles a "[name]" or "[name](options)" line.
func (l *loader) header(fs *fileState, text []byte, owned bool) {
	fs.cat, fs.skip = nil, true
	end := bytes.IndexByte(text, ']')
	if end < 0 {
		l.errorf(fs.name, fs.line, "malformed category header: no closing ']'")
		return
	}
	name := fs.string(text[1:end], owned)
	rest := text[end+1:]
	var options []byte
	hasOptions := len(rest) > 0 && rest[0] == '('
	if hasOptions {
		closing := bytes.IndexByte(rest, ')')
		if closing < 0 {
			l.errorf(fs.name, fs.line, "malformed category header: no closing ')'")
			return
		}
		options, rest = rest[1:closing], rest[closing+1:]
	}
	if len(trimSpace(rest)) > 0 {
		if !hasOptions && trimSpace(rest)[0] == '(' {
			l.warnf(fs.name, fs.line, "text after ']' ignored: options must follow ']' immediately")
		} else {
			l.warnf(fs.name, fs.line, "text after category header ignored")
		}
	}

	var template, appendTo bool
	var bases []string
	if hasOptions && len(trimSpace(options)) > 0 { // "[c]()" has no options
		for more := true; more; {
			var item []byte
			if i := bytes.IndexByte(options, ','); i >= 0 {
				item, options = options[:i], options[i+1:]
			} else {
				item, more = options, false
			}
			item = trimSpace(item)
			switch {
			case len(item) == 1 && item[0] == '!':
				template = true
			case len(item) > 0 && item[0] == '+':
				if len(item) > 1 {
					l.errorf(fs.name, fs.line, "category %q: filters in (+...) are not supported", name)
					return
				}
				appendTo = true
			case len(item) == 0:
				l.errorf(fs.name, fs.line, "category %q: empty template name in options", name)
				return
			default:
				bases = append(bases, fs.string(item, owned))
			}
		}
	}

	cat := &Category{Name: name, File: fs.name, Line: fs.line}
	if appendTo {
		cat = nil
		for _, c := range l.byName[lower(name)] {
			if !c.Template {
				cat = c
				break
			}
		}
		if cat == nil {
			l.errorf(fs.name, fs.line, "category %q does not exist: cannot append to it with (+)", name)
			return
		}
		cat.Template = cat.Template || template
	} else {
		cat.Template = template
	}
	for _, b := range bases {
		var base *Category
		if list := l.byName[lower(b)]; len(list) > 0 {
			base = list[0]
		}
		if base == nil {
			l.errorf(fs.name, fs.line, "category %q: template %q not found", name, b)
			return
		}
		cat.Inherits = append(cat.Inherits, b)
		inherited := base.Vars[:len(base.Vars):len(base.Vars)]
		for _, v := range inherited {
			nv := l.newVar()
			*nv = *v
			nv.Inherited = true
			cat.Vars = append(cat.Vars, nv)
		}
	}
	if !appendTo {
		key := lower(name)
		l.byName[key] = append(l.byName[key], cat)
		l.cfg.Categories = append(l.cfg.Categories, cat)
	}
	fs.cat, fs.skip = cat, false
	l.current = cat
}

func (l *loader) newVar() *Variable {
	if len(l.slab) == cap(l.slab) {
		l.slab = make([]Variable, 0, 256)
	}
	l.slab = append(l.slab, Variable{})
	return &l.slab[len(l.slab)-1]
}

func (l *loader) intern(b []byte) string {
	if s, ok := l.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(l.names) < 4096 {
		l.names[s] = s
	}
	return s
}

// variable handles a "name = value", "name => value" or "name += value" line.
func (l *loader) variable(fs *fileState, text []byte, owned bool) {
	if fs.cat == nil {
		if !fs.skip {
			l.errorf(fs.name, fs.line, "no category for variable (a [category] header must come first)")
			fs.skip = true
		}
		return
	}
	start := 0
	if text[0] == '\\' { // an escaped first character: "\[x] = y" names a variable "[x]"
		text = text[1:]
		if len(text) == 0 || text[0] < 33 {
			l.errorf(fs.name, fs.line, "invalid escape ('\\' must be followed by a printable character)")
			return
		}
		start = 1
	}
	eq := bytes.IndexByte(text[start:], '=')
	if eq < 0 {
		l.warnf(fs.name, fs.line, "no '=' in line, ignored")
		return
	}
	eq += start
	cat := fs.cat
	if eq > start && text[eq-1] == '+' {
		name := trimSpace(text[:eq-1])
		raw := text[eq+1:]
		for i := len(cat.Vars) - 1; i >= 0; i-- {
			v := cat.Vars[i]
			if len(v.Name) == len(name) && strings.EqualFold(v.Name, string(name)) {
				// As Asterisk: the text after "+=" is appended as is, then the result trimmed.
				v.Value = trimSpaceString(v.Value + string(raw))
				return
			}
		}
		l.addVar(fs, name, trimSpace(raw), false, owned)
		return
	}
	rest := text[eq+1:]
	object := len(rest) > 0 && rest[0] == '>'
	if object {
		rest = rest[1:]
	}
	l.addVar(fs, trimSpace(text[:eq]), trimSpace(rest), object, owned)
}

func (l *loader) addVar(fs *fileState, name, value []byte, object, owned bool) {
	if len(name) == 0 {
		l.warnf(fs.name, fs.line, "no variable name, line ignored")
		return
	}
	v := l.newVar()
	v.Name = l.intern(name)
	v.Value = fs.string(value, owned)
	v.Object = object
	v.File = fs.name
	v.Line = fs.line
	fs.cat.Vars = append(fs.cat.Vars, v)
}

// directive handles "#include", "#tryinclude" and "#exec" lines.
func (l *loader) directive(fs *fileState, text []byte, owned bool) {
	i := 1
	for i < len(text) && text[i] > 32 {
		i++
	}
	word := string(text[1:i])
	arg := string(trimSpace(text[i:]))
	if owned {
		arg = strings.Clone(arg)
	}
	kind := strings.ToLower(word)
	switch kind {
	case "include", "tryinclude", "exec":
	default:
		l.warnf(fs.name, fs.line, "unknown directive '#%s' ignored", word)
		return
	}
	if arg == "" {
		l.errorf(fs.name, fs.line, "#%s needs an argument", kind)
		return
	}
	if n := len(arg); n >= 2 && (arg[0] == '"' && arg[n-1] == '"' || arg[0] == '<' && arg[n-1] == '>') {
		arg = arg[1 : n-1]
	}
	if arg == "" {
		l.errorf(fs.name, fs.line, "#%s needs an argument", kind)
		return
	}
	if len(l.stack) > MaxIncludeDepth {
		l.errorf(fs.name, fs.line, "#%s %s: includes nested more than %d deep", kind, arg, MaxIncludeDepth)
		return
	}
	if err := l.ctx.Err(); err != nil {
		l.errorf(fs.name, fs.line, "#%s %s: %v", kind, arg, err)
		return
	}
	if kind == "exec" {
		l.exec(fs, arg)
		return
	}
	if l.opts.Static != nil {
		sc, mapped, err := l.opts.Static.LoadStatic(l.ctx, arg)
		if err != nil {
			l.errorf(fs.name, fs.line, "#%s %s: static configuration: %v", kind, arg, err)
			return
		}
		if mapped {
			if sc != nil {
				for _, c := range sc.Clone().Categories {
					key := lower(c.Name)
					l.byName[key] = append(l.byName[key], c)
					l.cfg.Categories = append(l.cfg.Categories, c)
					l.current = c
				}
			}
			return
		}
	}
	path := arg
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.dir, path)
	}
	var files []string
	if strings.ContainsAny(path, "*?[\\") {
		matches, err := filepath.Glob(path)
		if err != nil {
			l.errorf(fs.name, fs.line, "#%s %s: %v", kind, arg, err)
			return
		}
		sort.Strings(matches)
		files = matches
	} else {
		files = []string{path}
	}
	if len(files) == 0 {
		if kind == "include" {
			l.errorf(fs.name, fs.line, "#include %s: no file matches %s", arg, path)
		}
		return
	}
	// As Asterisk: the first file starts in the current category, and the files of a glob
	// follow one another as one file would (each starts where the one before ended). The
	// including file goes on in its own category afterwards.
	cat, skip := l.current, fs.skip && l.current == nil
	for _, f := range files {
		if loop := l.loop(f); loop != "" {
			l.errorf(fs.name, fs.line, "#%s %s: include loop: %s", kind, arg, loop)
			continue
		}
		data, err := readRegular(f)
		if err != nil {
			switch {
			case errors.Is(err, errNotRegular):
				// A device (/dev/zero), FIFO, socket or directory: Asterisk skips it too.
				l.warnf(fs.name, fs.line, "#%s %s: %s is not a regular file, ignored", kind, arg, f)
			case kind == "tryinclude" && errors.Is(err, iofs.ErrNotExist):
			default:
				l.errorf(fs.name, fs.line, "#%s %s: %s", kind, arg, ioReason(err))
			}
			continue
		}
		l.push(f)
		cat, skip = l.parseFile(f, data, cat, skip)
		l.stack = l.stack[:len(l.stack)-1]
	}
}

// errNotRegular is returned by readRegular for a file that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// readRegular reads a regular file. Anything else (a device such as /dev/zero, which never
// ends; a FIFO, which blocks until a writer comes; a directory) gives errNotRegular without
// reading: the file is opened without blocking and checked before any read.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &iofs.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	return io.ReadAll(f)
}

// loop returns the chain "a -> b -> a" when reading f would start an include loop.
func (l *loader) loop(f string) string {
	abs, err := filepath.Abs(f)
	if err != nil {
		abs = f
	}
	for i, s := range l.stack {
		if s == abs {
			chain := append(append([]string(nil), l.stack[i:]...), abs)
			return strings.Join(chain, " -> ")
		}
	}
	return ""
}

// exec runs an #exec command with /bin/sh and parses its standard output.
func (l *loader) exec(fs *fileState, command string) {
	if !l.opts.ExecIncludes {
		l.errorf(fs.name, fs.line, "#exec is not enabled (execincludes=no in asterisk.conf)")
		return
	}
	cmd := exec.CommandContext(l.ctx, "/bin/sh", "-c", command)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			msg = ": " + msg
		}
		l.errorf(fs.name, fs.line, "#exec %s: %v%s", command, err, msg)
		return
	}
	// #exec is an #include of the command's output (as in Asterisk): it starts in the
	// current category.
	name := "#exec " + command
	l.stack = append(l.stack, name)
	l.parseFile(name, out, l.current, fs.skip && l.current == nil)
	l.stack = l.stack[:len(l.stack)-1]
}

// ioReason is the one-line reason of a file error, without the path the Error already names.
func ioReason(err error) string {
	if errors.Is(err, iofs.ErrNotExist) {
		return "file does not exist"
	}
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
