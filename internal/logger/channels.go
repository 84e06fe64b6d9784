package logger

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Settings is what logger.conf configures.
type Settings struct {
	// DateFormat is a strftime-style format for file lines (Asterisk's default "%b %e %T").
	DateFormat string
	// AppendHostname appends ".hostname" to file names.
	AppendHostname bool
	// RotateStrategy is "sequential", "rotate", "timestamp" or "none".
	RotateStrategy string
	// Channels in file order; the channel named "console" is the console channel.
	Channels []ChannelSpec
}

// ChannelSpec is one [logfiles] line: "messages.log => notice,warning,error,verbose(3)".
type ChannelSpec struct {
	Name  string
	Kinds [numKinds]bool
	// Verbose limits verbose messages (verbose(N)); -1 follows the server's verbose level.
	Verbose int
	File    string
	Line    int
}

// DefaultSettings are Asterisk's built-in defaults when logger.conf is missing.
func DefaultSettings() *Settings {
	s := &Settings{DateFormat: "%b %e %T", RotateStrategy: "sequential"}
	// Debug is in the built-in console channel so that "core set debug N" shows debug lines
	// without a logger.conf (nothing is logged at debug level until it is raised).
	c := ChannelSpec{Name: "console", Verbose: -1}
	c.Kinds[KindNotice], c.Kinds[KindWarning], c.Kinds[KindError], c.Kinds[KindDebug] = true, true, true, true
	s.Channels = []ChannelSpec{c}
	return s
}

func (s *Settings) consoleKinds() [numKinds]bool {
	for _, c := range s.Channels {
		if c.Name == "console" {
			return c.Kinds
		}
	}
	return [numKinds]bool{}
}

// ParseSettings reads logger.conf. A nil config gives the defaults.
func ParseSettings(cfg *conf.Config) (*Settings, error) {
	if cfg == nil {
		return DefaultSettings(), nil
	}
	s := &Settings{DateFormat: "%b %e %T", RotateStrategy: "sequential"}
	var errs conf.ErrorList
	if g := cfg.Category("general"); g != nil {
		for _, v := range g.Vars {
			switch strings.ToLower(v.Name) {
			case "dateformat":
				s.DateFormat = v.Value
			case "appendhostname":
				s.AppendHostname = conf.IsTrue(v.Value)
			case "rotatestrategy":
				switch strings.ToLower(v.Value) {
				case "sequential", "rotate", "timestamp", "none":
					s.RotateStrategy = strings.ToLower(v.Value)
				default:
					errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf("unknown rotatestrategy %q (sequential, rotate, timestamp or none)", v.Value)})
				}
			}
		}
	}
	if lf := cfg.Category("logfiles"); lf != nil {
		for _, v := range lf.Vars {
			spec := ChannelSpec{Name: v.Name, Verbose: -1, File: v.File, Line: v.Line}
			for _, part := range strings.Split(v.Value, ",") {
				part = strings.ToLower(strings.TrimSpace(part))
				if part == "" {
					continue
				}
				if part == "*" {
					for k := range spec.Kinds {
						spec.Kinds[k] = true
					}
					continue
				}
				name, arg := part, ""
				if i := strings.IndexByte(part, '('); i > 0 && strings.HasSuffix(part, ")") {
					name, arg = part[:i], part[i+1:len(part)-1]
				}
				k := -1
				for i, kn := range kindNames {
					if strings.EqualFold(kn, name) {
						k = i
					}
				}
				if k < 0 {
					// Asterisk accepts custom levels and fax/trace; Pleiades ignores unknown names loudly.
					errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf("unknown log level %q", name)})
					continue
				}
				spec.Kinds[k] = true
				if arg != "" && Kind(k) == KindVerbose {
					n, err := strconv.Atoi(arg)
					if err != nil || n < 0 {
						errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf("bad verbose level %q", arg)})
						continue
					}
					spec.Verbose = n
				}
			}
			s.Channels = append(s.Channels, spec)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

type fileChannel struct {
	spec ChannelSpec
	path string
	mu   sync.Mutex
	f    *os.File
	err  error
}

func (f *fileChannel) accepts(e *Entry, serverVerbose int) bool {
	if !f.spec.Kinds[e.Kind] {
		return false
	}
	if e.Kind == KindVerbose {
		limit := f.spec.Verbose
		if limit < 0 {
			limit = serverVerbose
		}
		return e.Level <= limit
	}
	return true
}

func (f *fileChannel) write(e *Entry, dateFormat string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return
	}
	if _, err := f.f.WriteString(e.FileLine(dateFormat)); err != nil {
		f.err = err
	}
}

func (f *fileChannel) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
}

// Configure applies settings: files are opened under logDir (created if needed). On error the
// running channels stay as they were.
func (l *Logger) Configure(s *Settings, logDir string) error {
	host := ""
	if s.AppendHostname {
		host, _ = os.Hostname()
	}
	var files []*fileChannel
	for _, spec := range s.Channels {
		if spec.Name == "console" {
			continue
		}
		path := spec.Name
		if host != "" {
			path += "." + host
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(logDir, path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			closeAll(files)
			return fmt.Errorf("%s:%d: log channel %s: %w", spec.File, spec.Line, spec.Name, err)
		}
		fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			closeAll(files)
			return fmt.Errorf("%s:%d: log channel %s: %w", spec.File, spec.Line, spec.Name, err)
		}
		files = append(files, &fileChannel{spec: spec, path: path, f: fh})
	}
	l.mu.Lock()
	old := l.files
	l.files, l.cfg, l.consoleKinds = files, s, s.consoleKinds()
	l.mu.Unlock()
	closeAll(old)
	return nil
}

func closeAll(files []*fileChannel) {
	for _, f := range files {
		f.close()
	}
}

// Close closes every file channel.
func (l *Logger) Close() {
	l.mu.Lock()
	old := l.files
	l.files = nil
	l.mu.Unlock()
	closeAll(old)
}

// Rotate rotates every file channel by the configured strategy and reopens it, as
// "logger rotate" does.
func (l *Logger) Rotate() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var firstErr error
	for _, f := range l.files {
		if err := f.rotate(l.cfg.RotateStrategy); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func (f *fileChannel) rotate(strategy string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
	var err error
	switch strategy {
	case "none":
	case "timestamp":
		err = os.Rename(f.path, fmt.Sprintf("%s.%d", f.path, time.Now().Unix()))
	case "rotate":
		// file.N -> file.N+1 ..., file -> file.0
		var nums []int
		matches, _ := filepath.Glob(f.path + ".*")
		for _, m := range matches {
			if n, e := strconv.Atoi(strings.TrimPrefix(m, f.path+".")); e == nil {
				nums = append(nums, n)
			}
		}
		sort.Sort(sort.Reverse(sort.IntSlice(nums)))
		for _, n := range nums {
			if e := os.Rename(fmt.Sprintf("%s.%d", f.path, n), fmt.Sprintf("%s.%d", f.path, n+1)); e != nil && err == nil {
				err = e
			}
		}
		if e := os.Rename(f.path, f.path+".0"); e != nil && err == nil {
			err = e
		}
	default: // sequential: the first free file.N
		n := 0
		for ; ; n++ {
			if _, e := os.Stat(fmt.Sprintf("%s.%d", f.path, n)); os.IsNotExist(e) {
				break
			}
		}
		err = os.Rename(f.path, fmt.Sprintf("%s.%d", f.path, n))
	}
	fh, oerr := os.OpenFile(f.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if oerr != nil {
		f.err = oerr
		return oerr
	}
	f.f = fh
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// ChannelStatus is one line of "logger show channels".
type ChannelStatus struct {
	Name, Type, Status, Config string
}

// Channels reports the configured channels.
func (l *Logger) Channels() []ChannelStatus {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []ChannelStatus
	for _, spec := range l.cfg.Channels {
		st := ChannelStatus{Name: spec.Name, Type: "File", Status: "Enabled", Config: kindList(spec)}
		if spec.Name == "console" {
			st.Type = "Console"
		}
		for _, f := range l.files {
			if f.spec.Name == spec.Name {
				st.Name = f.path
				if f.err != nil || f.f == nil {
					st.Status = "Disabled"
				}
			}
		}
		out = append(out, st)
	}
	return out
}

func kindList(spec ChannelSpec) string {
	var b strings.Builder
	for k := range numKinds {
		if !spec.Kinds[k] {
			continue
		}
		b.WriteString(k.String())
		if k == KindVerbose && spec.Verbose >= 0 {
			fmt.Fprintf(&b, "(%d)", spec.Verbose)
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// formatTime renders t with a strftime-style format: the conversions Asterisk's logger.conf
// samples use (%b %e %d %m %Y %y %H %M %S %T %F %D %j %a %A %B %z %Z %s %%, and %Nq for
// fractions of a second).
func formatTime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 >= len(f) {
			b.WriteByte(c)
			continue
		}
		i++
		switch f[i] {
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'D':
			b.WriteString(t.Format("01/02/06"))
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 's':
			fmt.Fprintf(&b, "%d", t.Unix())
		case '%':
			b.WriteByte('%')
		default:
			if f[i] >= '1' && f[i] <= '9' && i+1 < len(f) && f[i+1] == 'q' {
				digits := int(f[i] - '0')
				frac := fmt.Sprintf("%09d", t.Nanosecond())
				if digits > 9 {
					digits = 9
				}
				b.WriteString(frac[:digits])
				i++
				continue
			}
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
