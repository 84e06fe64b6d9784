package dialplan

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/pleiades-pbx/pleiades/test/testenv"

	"github.com/pleiades-pbx/pleiades/test/golden"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/logger"
)

func TestSampleLoads(t *testing.T) {
	data := sharedFile(t, "asterisk-samples/extensions.conf.sample")
	cfg, err := conf.Parse("extensions.conf", data, conf.Options{Dir: testenv.SharedPath(t, "asterisk-samples")})
	if err != nil {
		t.Fatalf("conf.Parse: %v", err)
	}
	e, sink := newTestEngine(t, "")
	if err := e.Load(cfg); err != nil {
		t.Fatal(err)
	}
	dp := e.Dialplan()
	nc, ne, np := dp.Counts()
	if nc < 20 || ne < 40 || np < 100 {
		t.Errorf("counts: %d contexts %d extensions %d priorities", nc, ne, np)
	}
	if g, _ := e.Global("CONSOLE"); g != "Console/dsp" {
		t.Errorf("globals: CONSOLE=%q", g)
	}
	if !dp.Settings.Static || dp.Settings.WriteProtect || !dp.Settings.AutoFallthrough {
		t.Errorf("settings %+v", dp.Settings)
	}
	// Applications Pleiades does not have yet are warned about with their place (Dial now exists).
	if !sink.has("Unknown application 'SayDigits' in extension '_X.' priority 40004 of context 'ani'") {
		t.Errorf("no unknown-application warning:\n%s", sink.text())
	}
	out, err := runCLI(t, e, "dialplan show", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"[ Context 'demo' created by 'pbx_config' ]",
		"  Include =>        'stdexten'                                    [pbx_config]",
		"  Alt. Switch =>    'DUNDi/e164'                                  [pbx_config]",
		"  Ignore pattern => '9'                                           [pbx_config]",
		"  '_X.' =>          50000. NoOp(Start stdexten)",
		"     [restart]      5. BackGround(demo-congrats)",
		"-= ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dialplan show lacks %q", want)
		}
	}
	golden.Check(t, "sample_dialplan_show.golden", out)
	if !e.Exists(context.Background(), "default", "1234", 1, "") || !e.Exists(context.Background(), "default", "5551212", 50000, "") {
		t.Error("default includes demo includes stdexten")
	}
}

// The devstate_test walkthrough (seeds/000): console dial check@devstate_test logs the
// Executing line in Asterisk's shape, and -rx style consoles get it on their output.
func TestConsoleDialGolden(t *testing.T) {
	e, sink := newTestEngine(t, `
[devstate_test]

exten => 1234,hint,Custom:mystate

exten => set_inuse,1,Set(DEVICE_STATE(Custom:mystate)=INUSE)
exten => set_not_inuse,1,Set(DEVICE_STATE(Custom:mystate)=NOT_INUSE)

exten => check,1,NoOp(Custom:mystate is ${DEVICE_STATE(Custom:mystate)})
`)
	e.RegisterFunction(&Function{Name: "DEVICE_STATE", Read: func(context.Context, *Channel, string) (string, error) { return "INUSE", nil },
		Write: func(context.Context, *Channel, string, string) error { return nil }})
	out, err := runCLI(t, e, "console dial check@devstate_test", nil)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "console_dial_check.golden", out)
	if !strings.Contains(out, `    -- Executing [check@devstate_test:1] NoOp("Console/dsp", "Custom:mystate is INUSE") in new stack`) {
		t.Errorf("output:\n%s", out)
	}
	// A console at verbose 3 gets the lines from the logger, not twice.
	out, _ = runCLI(t, e, "console dial check@devstate_test", &fakeSession{v: 3})
	if out != "" {
		t.Errorf("verbose console got echo: %q", out)
	}
	if !sink.has(`Executing [check@devstate_test:1] NoOp("Console/dsp", "Custom:mystate is INUSE") in new stack`) {
		t.Error("not logged")
	}
	out, err = runCLI(t, e, "console dial nope@devstate_test", nil)
	if err == nil || out != "No such extension 'nope' in context 'devstate_test'\n" {
		t.Errorf("%q %v", out, err)
	}
	out, _ = runCLI(t, e, "dialplan show", nil)
	golden.Check(t, "devstate_dialplan_show.golden", out)
	out, _ = runCLI(t, e, "dialplan show check@devstate_test", nil)
	golden.Check(t, "devstate_dialplan_show_exten.golden", out)
	out, err = runCLI(t, e, "dialplan show nosuch", nil)
	if err == nil || out != "There is no existence of 'nosuch' context\nCommand 'dialplan show nosuch' failed.\n" {
		t.Errorf("%q", out)
	}
	out, err = runCLI(t, e, "dialplan show 999@devstate_test", nil)
	if err == nil || out != "There is no existence of 999@devstate_test extension\nCommand 'dialplan show 999@devstate_test' failed.\n" {
		t.Errorf("%q", out)
	}
}

func TestDialplanShowIncludes(t *testing.T) {
	e, _ := newTestEngine(t, includesConf)
	out, _ := runCLI(t, e, "dialplan show 500@main", nil)
	golden.Check(t, "includes_show_exten.golden", out)
	out, _ = runCLI(t, e, "dialplan show main", nil)
	golden.Check(t, "includes_show_main.golden", out)
}

func TestDialplanReload(t *testing.T) {
	e, _ := newTestEngine(t, "[a]\nexten => 1,1,NoOp()\n")
	out, err := runCLI(t, e, "dialplan reload", nil)
	if err == nil || !strings.Contains(out, "no extensions.conf loader") {
		t.Errorf("%q", out)
	}
	text := "[b]\nexten => 1,1,NoOp()\n"
	e.SetLoader(func(ctx context.Context) (*conf.Config, error) {
		return conf.Parse("extensions.conf", []byte(text), conf.Options{})
	})
	reloaded := 0
	e.OnLoad(func(*Dialplan) { reloaded++ })
	out, err = runCLI(t, e, "dialplan reload", nil)
	if err != nil || out != "Dialplan reloaded.\n" || e.Dialplan().Context("b") == nil || reloaded != 1 {
		t.Errorf("%q %v", out, err)
	}
	text = "[c\nexten => 1,1,NoOp()\n"
	out, err = runCLI(t, e, "dialplan reload", nil)
	if err == nil || !strings.Contains(out, "extensions.conf:1") || e.Dialplan().Context("b") == nil {
		t.Errorf("broken reload: %q %v", out, err)
	}
}

func TestOriginate(t *testing.T) {
	e, sink := newTestEngine(t, `
[o]
exten => 100,1,Answer()
 same => n,Set(GLOBAL(RAN100)=${CHANNEL})
exten => 200,1,Set(GLOBAL(RAN200)=${CHANNEL})
`)
	out, err := runCLI(t, e, "channel originate Local/100@o application NoOp hello", nil)
	if err != nil || out != "" {
		t.Fatalf("%q %v", out, err)
	}
	out, err = runCLI(t, e, "channel originate Local/100@o extension 200@o", nil)
	if err != nil || out != "" {
		t.Fatalf("%q %v", out, err)
	}
	e.bg.Wait()
	if g, _ := e.Global("RAN100"); !strings.HasPrefix(g, "Local/100@o-") || !strings.HasSuffix(g, ";2") {
		t.Errorf("RAN100=%q\n%s", g, sink.text())
	}
	if g, _ := e.Global("RAN200"); !strings.HasSuffix(g, ";1") {
		t.Errorf("RAN200=%q", g)
	}
	if out, err := runCLI(t, e, "channel originate Local/999@o application NoOp", nil); err == nil {
		t.Errorf("nonexistent: %q", out)
	}
	if _, err := runCLI(t, e, "channel originate SIP/alice application NoOp", nil); err == nil {
		t.Error("SIP accepted")
	}
}

// Through the real logger, a console at verbose 3 shows Asterisk's line shape.
func TestExecutingLineThroughLogger(t *testing.T) {
	lg := logger.New()
	var mu sync.Mutex
	var lines []string
	_, detach := lg.AttachConsole(3, func(line string) { mu.Lock(); lines = append(lines, line); mu.Unlock() })
	defer detach()
	e := New(lg.Slog(), nil)
	defer e.Close()
	if err := e.Load(mustParse(t, "[devstate_test]\nexten => check,1,NoOp(Custom:mystate is ${X})\n same => n,Goto(1)\n")); err != nil {
		t.Fatal(err)
	}
	e.MaxSteps = 3
	ch := NewChannel(ConsoleChannelName, "devstate_test", "check", 1)
	ch.SetVar("X", "INUSE")
	e.Run(context.Background(), ch)
	mu.Lock()
	defer mu.Unlock()
	got := strings.Join(lines, "")
	for _, want := range []string{
		"    -- Executing [check@devstate_test:1] NoOp(\"Console/dsp\", \"Custom:mystate is INUSE\") in new stack\n",
		"    -- Executing [check@devstate_test:2] Goto(\"Console/dsp\", \"1\") in new stack\n",
		"    -- Goto (devstate_test,check,1)\n",
		"ERROR[",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
