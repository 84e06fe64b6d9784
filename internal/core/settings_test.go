package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadSettings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "asterisk.conf")
	os.WriteFile(path, []byte("[directories]\nastrundir => /tmp/x/run\nastmoddir => /usr/lib/asterisk/modules\n[options]\nentityid = 02:00:00:00:00:07\nsystemname = pbx7\nverbose = 3\ndebug = 1\nexecincludes = yes\nmaxcalls = 10\nlive_dangerously = yes\n"), 0o644)
	s, err := LoadSettings(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.EID.String() != "02:00:00:00:00:07" || s.EIDSource != path+":5" || s.SystemName != "pbx7" || s.Verbose != 3 || s.Debug != 1 || !s.ExecIncludes || !s.LiveDangerously {
		t.Fatalf("settings %+v", s)
	}
	if s.Dirs.Run != "/tmp/x/run" || s.Dirs.Etc != dir || s.CtlPath() != "/tmp/x/run/pleiades.ctl" {
		t.Fatalf("dirs %+v", s.Dirs)
	}
	if len(s.Notices) != 2 || !strings.Contains(strings.Join(s.Notices, "\n"), "maxcalls") {
		t.Fatalf("notices %q", s.Notices)
	}
}

func TestLoadSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"[options]\nentityid = 00:00:00:00:00:00\n": "asterisk.conf:2: entity ID",
		"[options]\nverbose = loud\n":               "asterisk.conf:2: verbose must be a number",
		"[directories]\nastfoodir => /x\n":          "asterisk.conf:2: unknown directory",
	} {
		path := filepath.Join(dir, "asterisk.conf")
		os.WriteFile(path, []byte(content), 0o644)
		_, err := LoadSettings(path, "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", content, err, want)
		}
	}
	if _, err := LoadSettings(filepath.Join(dir, "missing.conf"), ""); err == nil {
		t.Error("missing asterisk.conf accepted")
	}
}

func TestBuiltinDirsAreUnderDataDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	if DefaultDataDir() != "/state/pleiades" {
		t.Fatal(DefaultDataDir())
	}
	s, err := LoadSettings("", "/data/pl")
	if err != nil {
		t.Fatal(err)
	}
	if s.Dirs.Run != "/data/pl/run" || s.Dirs.DB != "/data/pl/lib" || s.ConfigFile != "" {
		t.Fatalf("%+v", s.Dirs)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                 "<1 second",
		time.Second:                       "1 second",
		3*time.Hour + 2*time.Minute + 1e9: "3 hours, 2 minutes, 1 second",
		8 * 24 * time.Hour:                "1 week, 1 day",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
