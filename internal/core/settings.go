package core

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/eid"
)

// Dirs are the [directories] of asterisk.conf.
type Dirs struct {
	Etc, VarLib, DB, Run, Log, Spool, Data string
}

// Settings are what asterisk.conf configures, plus the command-line overrides.
type Settings struct {
	// ConfigFile is the asterisk.conf read, or "" for the built-in defaults.
	ConfigFile string
	Dirs       Dirs
	EID        eid.EID
	// EIDSource says where the EID came from ("asterisk.conf:12", "interface eth0 MAC", ...).
	EIDSource    string
	SystemName   string
	Verbose      int
	Debug        int
	ExecIncludes bool
	// LiveDangerously is [options] live_dangerously (default no): yes lets AMI and HTTP
	// users call dialplan functions and applications that escalate privileges.
	LiveDangerously bool
	// Notices are remarks to log once the logger runs (options accepted but not used).
	Notices []string
	// SystemNameSet says that systemname came from asterisk.conf; otherwise SystemName is the
	// host name and Asterisk's system name (ast_config_AST_SYSTEM_NAME) would be empty.
	SystemNameSet bool
}

// DefaultDataDir is where a server with no asterisk.conf keeps its state:
// $XDG_STATE_HOME/pleiades when set, else ./var/pleiades.
func DefaultDataDir() string {
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "pleiades")
	}
	return filepath.Join("var", "pleiades")
}

// BuiltinDirs lays every directory under one data directory.
func BuiltinDirs(data string) Dirs {
	if abs, err := filepath.Abs(data); err == nil {
		data = abs
	}
	return Dirs{
		Etc:    filepath.Join(data, "etc"),
		VarLib: filepath.Join(data, "lib"),
		DB:     filepath.Join(data, "lib"),
		Run:    filepath.Join(data, "run"),
		Log:    filepath.Join(data, "log"),
		Spool:  filepath.Join(data, "spool"),
		Data:   filepath.Join(data, "lib"),
	}
}

// SystemDirs are the directories used with an asterisk.conf that has no [directories]: Asterisk's
// layout with "pleiades" in place of "asterisk", except that the configuration directory is the
// one asterisk.conf is in.
func SystemDirs(confFile string) Dirs {
	return Dirs{
		Etc:    filepath.Dir(confFile),
		VarLib: "/var/lib/pleiades",
		DB:     "/var/lib/pleiades",
		Run:    "/var/run/pleiades",
		Log:    "/var/log/pleiades",
		Spool:  "/var/spool/pleiades",
		Data:   "/var/lib/pleiades",
	}
}

// options of asterisk.conf that Pleiades reads; every other known Asterisk option is accepted
// with a notice.
var ignoredOptions = map[string]bool{
	"trace": true, "refdebug": true, "alwaysfork": true, "nofork": true, "quiet": true, "timestamp": true,
	"console": true, "highpriority": true, "initcrypto": true, "nocolor": true, "dontwarn": true,
	"dumpcore": true, "languageprefix": true, "autosystemname": true, "mindtmfduration": true,
	"maxcalls": true, "maxload": true, "maxfiles": true, "minmemfree": true, "cache_media_frames": true,
	"cache_record_files": true, "record_cache_dir": true, "transmit_silence": true,
	"transcode_via_sln": true, "runuser": true, "rungroup": true, "lightbackground": true,
	"forceblackbackground": true, "defaultlanguage": true, "documentation_language": true,
	"hideconnect": true, "lockconfdir": true, "stdexten": true,
	"rtp_use_dynamic": true, "rtp_pt_dynamic": true, "disable_remote_console_shell": true,
	"sounds_search_custom_dir": true, "channel_storage_backend": true, "debug_module": true,
	"verbose_module": true, "pbx_realtime_stats": true, "transmit_silence_during_record": true,
}

// LoadSettings reads asterisk.conf at path (path "" = built-in defaults under dataDir).
func LoadSettings(path, dataDir string) (*Settings, error) {
	s := &Settings{}
	if path == "" {
		s.Dirs = BuiltinDirs(dataDir)
	} else {
		abs, err := filepath.Abs(path)
		if err == nil {
			path = abs
		}
		s.ConfigFile = path
		s.Dirs = SystemDirs(path)
		cfg, err := conf.Load(path, conf.Options{})
		if err != nil {
			return nil, err
		}
		if err := s.apply(cfg); err != nil {
			return nil, err
		}
	}
	if s.SystemName == "" {
		s.SystemName, _ = os.Hostname()
	}
	return s, nil
}

// ResolveEID derives the Entity ID from the network interfaces when asterisk.conf did not set
// one. Only a server needs it (a remote console does not).
func (s *Settings) ResolveEID() error {
	if !s.EID.IsZero() {
		return nil
	}
	e, err := eid.FromInterfaces()
	if err != nil {
		return err
	}
	s.EID, s.EIDSource = e, "network interface MAC"
	return nil
}

func (s *Settings) apply(cfg *conf.Config) error {
	var errs conf.ErrorList
	bad := func(v *conf.Variable, format string, args ...any) {
		errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf(format, args...)})
	}
	if d := cfg.Category("directories"); d != nil {
		for _, v := range d.Vars {
			dir := v.Value
			switch strings.ToLower(v.Name) {
			case "astetcdir":
				s.Dirs.Etc = dir
			case "astvarlibdir":
				s.Dirs.VarLib = dir
			case "astdbdir":
				s.Dirs.DB = dir
			case "astrundir":
				s.Dirs.Run = dir
			case "astlogdir":
				s.Dirs.Log = dir
			case "astspooldir":
				s.Dirs.Spool = dir
			case "astdatadir":
				s.Dirs.Data = dir
			case "astcachedir", "astmoddir", "astkeydir", "astagidir", "astsbindir":
				s.Notices = append(s.Notices, fmt.Sprintf("%s:%d: %s is not used by Pleiades", v.File, v.Line, v.Name))
			default:
				bad(v, "unknown directory %q", v.Name)
			}
		}
	}
	if o := cfg.Category("options"); o != nil {
		for _, v := range o.Vars {
			name := strings.ToLower(v.Name)
			switch name {
			case "entityid", "entity_id":
				e, err := eid.Parse(v.Value)
				if err != nil {
					bad(v, "%s", err)
					continue
				}
				s.EID, s.EIDSource = e, fmt.Sprintf("%s:%d", v.File, v.Line)
			case "systemname":
				s.SystemName, s.SystemNameSet = v.Value, v.Value != ""
			case "verbose", "debug":
				n, err := strconv.Atoi(v.Value)
				if err != nil || n < 0 {
					bad(v, "%s must be a number >= 0, not %q", v.Name, v.Value)
					continue
				}
				if name == "verbose" {
					s.Verbose = n
				} else {
					s.Debug = n
				}
			case "execincludes":
				s.ExecIncludes = conf.IsTrue(v.Value)
			case "live_dangerously":
				s.LiveDangerously = conf.IsTrue(v.Value)
			default:
				if ignoredOptions[name] {
					s.Notices = append(s.Notices, fmt.Sprintf("%s:%d: option %s is accepted but not used by Pleiades", v.File, v.Line, v.Name))
				} else {
					s.Notices = append(s.Notices, fmt.Sprintf("%s:%d: unknown option %s ignored", v.File, v.Line, v.Name))
				}
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// CtlPath is the control socket's path.
func (s *Settings) CtlPath() string { return filepath.Join(s.Dirs.Run, "pleiades.ctl") }

// PIDPath is the PID file's path.
func (s *Settings) PIDPath() string { return filepath.Join(s.Dirs.Run, "pleiades.pid") }

// ConfPath resolves a configuration file name against the configuration directory.
func (s *Settings) ConfPath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(s.Dirs.Etc, name)
}
