package moh

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// Sort is a class's sort= (the order its files play in).
type Sort int

// The sort orders of res_musiconhold.
const (
	// SortNone: sort= not given; the directory's order (Go lists a directory sorted by
	// name, so this is byte order), starting with the first file.
	SortNone Sort = iota
	// SortAlpha: sort=alpha, names compared without case, starting with the first file.
	SortAlpha
	// SortRandom: sort=random, every file (the first too) chosen at random.
	SortRandom
	// SortRandStart: sort=randstart, sorted as alpha, starting with a file chosen at random.
	SortRandStart
)

func (s Sort) String() string {
	switch s {
	case SortAlpha:
		return "alpha"
	case SortRandom:
		return "random"
	case SortRandStart:
		return "randstart"
	}
	return ""
}

// Class is one music on hold class of musiconhold.conf that can be played.
type Class struct {
	Name string
	// Mode is "files" or "playlist".
	Mode string
	// Directory is directory= as written ("moh"), "nodir" for a playlist (as Asterisk
	// shows it); Dir is where the files were looked for (relative to astdatadir).
	Directory, Dir string
	// Announcement, when set, is a sound file (sounds directory, the channel's language)
	// played when the music starts and between two files.
	Announcement string
	Sort         Sort
	// LoopLast: after the last file, the last file again and again (loop_last=yes).
	LoopLast bool
	// AnsweredOnly: no music for a channel that is not answered (answeredonly=yes).
	AnsweredOnly bool
	// Digit is digit=: while MusicOnHold() plays, this DTMF digit switches to the class.
	Digit byte
	// Files are the class's files without their extension (the format is chosen when one
	// is played, the channel's codec first), in play order.
	Files []string
	// File and Line are where the class's [name] is.
	File string
	Line int
}

// Config is musiconhold.conf.
type Config struct {
	// PreferChannelClass ([general] preferchannelclass, default yes): the channel's own
	// class (CHANNEL(musicclass)) before the class an application asks for.
	PreferChannelClass bool
	// CacheRTClasses ([general] cachertclasses) is accepted; Pleiades has no realtime
	// music on hold classes.
	CacheRTClasses bool
	// Classes in the order of the file.
	Classes []*Class
}

// Class returns the class named name (case-insensitive, as Asterisk's class container),
// nil for none.
func (c *Config) Class(name string) *Class {
	if c == nil {
		return nil
	}
	for _, cl := range c.Classes {
		if strings.EqualFold(cl.Name, name) {
			return cl
		}
	}
	return nil
}

// Options say where relative paths lead.
type Options struct {
	// DataDir is astdatadir: a relative directory= is under it (Asterisk's
	// ast_config_AST_DATA_DIR; the default class's "moh" is astdatadir/moh).
	DataDir string
}

// DefaultFile is the musiconhold.conf Asterisk's sample installs and a server without one
// runs on: the class "default" playing astdatadir/moh.
const DefaultFile = "[default]\nmode=files\ndirectory=moh\n"

// Parse reads musiconhold.conf and scans each class's files. Like res_musiconhold it never
// fails: what it cannot use is skipped and reported in the returned list (file:line
// first), to be logged as warnings. cfg nil is an empty file.
func Parse(cfg *conf.Config, opts Options) (*Config, conf.ErrorList) {
	out := &Config{PreferChannelClass: true}
	var warns conf.ErrorList
	if cfg == nil {
		return out, nil
	}
	warn := func(file string, line int, format string, args ...any) {
		warns = append(warns, &conf.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	for _, cat := range cfg.Categories {
		if cat.Template {
			continue
		}
		if strings.EqualFold(cat.Name, "general") {
			for _, v := range cat.Vars {
				switch strings.ToLower(v.Name) {
				case "cachertclasses":
					out.CacheRTClasses = conf.IsTrue(v.Value)
				case "preferchannelclass":
					out.PreferChannelClass = conf.IsTrue(v.Value)
				default:
					warn(v.File, v.Line, "Unknown option '%s' in [general] section of musiconhold.conf", v.Name)
				}
			}
			continue
		}
		if c := parseClass(cat, opts, warn); c != nil {
			if out.Class(c.Name) != nil {
				warn(cat.File, cat.Line, "Music on Hold class '%s' already exists", c.Name)
				continue
			}
			out.Classes = append(out.Classes, c)
		}
	}
	return out, warns
}

// parseClass reads one class (moh_parse_options and the checks of load_moh_classes) and
// finds its files; nil when it cannot be played.
func parseClass(cat *conf.Category, opts Options, warn func(string, int, string, ...any)) *Class {
	c := &Class{Name: cat.Name, File: cat.File, Line: cat.Line}
	modeLine := cat.Line
	var entries []*conf.Variable
	for _, v := range cat.Vars {
		val := strings.TrimSpace(v.Value)
		switch strings.ToLower(v.Name) {
		case "mode":
			c.Mode, modeLine = strings.ToLower(val), v.Line
		case "directory":
			c.Directory = val
		case "entry":
			entries = append(entries, v)
		case "announcement":
			c.Announcement = val
		case "digit":
			if val != "" && strings.IndexByte("0123456789*#", val[0]) >= 0 {
				c.Digit = val[0]
			}
		case "sort":
			switch strings.ToLower(val) {
			case "random":
				c.Sort = SortRandom
			case "alpha":
				c.Sort = SortAlpha
			case "randstart":
				c.Sort = SortRandStart
			default:
				warn(v.File, v.Line, "sort '%s' of class '%s' is not random, alpha or randstart: ignored", val, c.Name)
			}
		case "loop_last":
			c.LoopLast = conf.IsTrue(val)
		case "answeredonly":
			c.AnsweredOnly = conf.IsTrue(val)
		case "name", "application", "format", "kill_escalation_delay", "kill_method":
			// name= is overridden by [name] (Asterisk); the others belong to modes Pleiades
			// does not run.
		default:
			// res_musiconhold ignores options it does not know.
		}
	}
	switch c.Mode {
	case "":
		warn(cat.File, cat.Line, "A mode must be specified for class '%s'!", c.Name)
		return nil
	case "files":
		if c.Directory == "" {
			warn(cat.File, cat.Line, "A directory must be specified for class '%s'!", c.Name)
			return nil
		}
		c.Dir = c.Directory
		if !filepath.IsAbs(c.Dir) {
			c.Dir = filepath.Join(opts.DataDir, c.Dir)
		}
		files, err := scanDir(c.Dir)
		if err != nil {
			warn(cat.File, cat.Line, "class '%s': %s is not a valid directory: %v", c.Name, c.Dir, err)
			return nil
		}
		if c.Sort == SortAlpha || c.Sort == SortRandStart {
			slices.SortStableFunc(files, func(a, b string) int {
				return strings.Compare(strings.ToLower(filepath.Base(a)), strings.ToLower(filepath.Base(b)))
			})
		}
		if len(files) == 0 {
			warn(cat.File, cat.Line, "Files not found in %s for moh class:%s (class '%s' has no files it can play: .wav, .sln, .ulaw, .alaw...)", c.Directory, c.Name, c.Name)
			return nil
		}
		c.Files = files
	case "playlist":
		if c.Directory == "" {
			c.Directory = "nodir"
		}
		for _, e := range entries {
			val := strings.TrimSpace(e.Value)
			switch {
			case strings.Contains(val, "://"):
				warn(e.File, e.Line, "class '%s': playlist entry '%s' is a URL; Pleiades plays files only: entry skipped", c.Name, val)
			case strings.HasPrefix(val, "/"):
				c.Files = append(c.Files, val)
			default:
				warn(e.File, e.Line, "Playlist entries must be a URL or an absolute path, '%s' provided.", val)
			}
		}
		if len(c.Files) == 0 {
			warn(cat.File, cat.Line, "class '%s': the playlist has no entries it can play", c.Name)
			return nil
		}
	case "custom", "mp3", "mp3nb", "quietmp3", "quietmp3nb", "httpmp3":
		warn(cat.File, modeLine, "class '%s': mode=%s (an external player) is not supported by Pleiades, only files and playlist: class skipped", c.Name, c.Mode)
		return nil
	default:
		warn(cat.File, modeLine, "Don't know how to do a mode '%s' music on hold: class '%s' skipped", c.Mode, c.Name)
		return nil
	}
	return c
}

// scanDir lists the files of dir a class can play, as res_musiconhold's on_moh_file: no
// dot files, an extension of at least two characters that is a format Pleiades reads
// (sound.Playable), each name once whatever its formats; the names are returned without
// their extension, in the directory's order.
func scanDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		dot := strings.LastIndexByte(name, '.')
		if dot < 0 || len(name)-dot < 3 || !sound.Playable(name[dot+1:]) {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		base := filepath.Join(dir, name[:dot])
		if !seen[base] {
			seen[base] = true
			out = append(out, base)
		}
	}
	return out, nil
}
