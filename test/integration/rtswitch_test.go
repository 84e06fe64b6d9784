package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealtimeSwitchAndHints runs the Realtime switch against the built-in SQLite realtime
// database: extensions and a hint stored as rows are dialled and shown like static ones.
func TestRealtimeSwitchAndHints(t *testing.T) {
	dir, err := os.MkdirTemp("", "plrsw")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	etc := filepath.Join(dir, "var", "pleiades", "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "extensions.conf"), []byte("[default]\nswitch => Realtime/rtctx@extensions\n\n[local]\nexten => 100,1,NoOp(static)\n"), 0o644)
	env := filteredEnv("XDG_STATE_HOME")
	rx := func(c string) string {
		t.Helper()
		out, code := runBinaryEnv(t, dir, env, "-rx", c)
		if code != 0 {
			t.Fatalf("-rx %q: %d %s", c, code, out)
		}
		return out
	}
	if out, code := runBinaryEnv(t, dir, env); code != 0 {
		t.Fatalf("start: %s", out)
	}
	defer runBinaryEnv(t, dir, env, "-rx", "core stop now")
	rx("realtime store extensions context rtctx exten 201 priority 1 app NoOp appdata realtime-${EXTEN}")
	rx("realtime store extensions context rtctx exten _3XX priority 1 app NoOp appdata pattern-${EXTEN}")
	rx("realtime store extensions context rtctx exten 400 priority -1 app hint appdata Custom:rthint")
	if out := rx("console dial 201@default"); !strings.Contains(out, `Executing [201@default:1] NoOp("Console/dsp", "realtime-201") in new stack`) {
		t.Fatalf("exact realtime row:\n%s", out)
	}
	if out := rx("console dial 355@default"); !strings.Contains(out, `NoOp("Console/dsp", "pattern-355")`) {
		t.Fatalf("pattern realtime row:\n%s", out)
	}
	// The realtime hint appears without a reload and follows its device.
	rx("devstate change Custom:rthint INUSE")
	eventually(t, 12*time.Second, func() string {
		out := rx("core show hints")
		if !regexp.MustCompile(`400@default\s+: Custom:rthint\s+State:InUse`).MatchString(out) {
			return "realtime hint:\n" + out
		}
		return ""
	})
	rx("realtime store extensions context rtctx exten dial priority 1 app NoOp appdata ${EXTENSION_STATE(400@default)}")
	if out := rx("console dial dial@default"); !strings.Contains(out, `NoOp("Console/dsp", "INUSE")`) {
		t.Fatalf("EXTENSION_STATE of a realtime hint:\n%s", out)
	}
}

// TestStaticModeExtensionsFromTable loads extensions.conf from the ast_config table of the
// built-in SQLite database (static mode) including an #include row, and runs it.
func TestStaticModeExtensionsFromTable(t *testing.T) {
	dir, err := os.MkdirTemp("", "plstatic")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	etc := filepath.Join(dir, "var", "pleiades", "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "extconfig.conf"), []byte("[settings]\nextensions.conf => sqlite3,pleiades,ast_config\nast_config => sqlite3,pleiades,ast_config\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "more.conf"), []byte("[fromfile]\nexten => 9,1,NoOp(included from a file)\n"), 0o644)
	env := filteredEnv("XDG_STATE_HOME")
	rx := func(c string) (string, int) {
		t.Helper()
		return runBinaryEnv(t, dir, env, "-rx", c)
	}
	must := func(c string) string {
		t.Helper()
		out, code := rx(c)
		if code != 0 {
			t.Fatalf("-rx %q: %d %s", c, code, out)
		}
		return out
	}
	if out, code := runBinaryEnv(t, dir, env); code != 0 {
		t.Fatalf("start: %s", out)
	}
	defer runBinaryEnv(t, dir, env, "-rx", "core stop now")
	for _, row := range []string{
		"cat_metric 1 var_metric 0 commented 0 filename extensions.conf category fromdb var_name exten var_val \"100,1,NoOp(static from the database)\"",
		"cat_metric 1 var_metric 1 commented 0 filename extensions.conf category fromdb var_name exten var_val 100,2,Hangup()",
		"cat_metric 1 var_metric 2 commented 1 filename extensions.conf category fromdb var_name exten var_val \"101,1,NoOp(commented out)\"",
		"cat_metric 0 var_metric 0 commented 0 filename extensions.conf category general var_name #include var_val more.conf",
	} {
		must(`realtime store ast_config ` + row)
	}
	must("dialplan reload")
	out := must("dialplan show")
	if !strings.Contains(out, "'100' =>") || strings.Contains(out, "'101'") || !strings.Contains(out, "[ Context 'fromfile'") {
		t.Fatalf("dialplan from the table:\n%s", out)
	}
	if out := must("console dial 100@fromdb"); !strings.Contains(out, `NoOp("Console/dsp", "static from the database")`) {
		t.Fatalf("run:\n%s", out)
	}
}
