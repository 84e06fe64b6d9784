package integration

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// seedDialplan is the first seed's devstate_test context.
const seedDialplan = `[devstate_test]

exten => 1234,hint,Custom:mystate

exten => set_inuse,1,Set(DEVICE_STATE(Custom:mystate)=INUSE)
exten => set_not_inuse,1,Set(DEVICE_STATE(Custom:mystate)=NOT_INUSE)

exten => check,1,NoOp(Custom:mystate is ${DEVICE_STATE(Custom:mystate)})
`

// eventually retries fn until it returns "" or the time is up, then fails with its last word.
func eventually(t *testing.T, d time.Duration, fn func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := fn()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSeedWalkthroughOneServer(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:30", map[string]string{"extensions.conf": seedDialplan})
	n.Start()
	if out := n.MustRX("core show hints"); !regexp.MustCompile(`1234@devstate_test\s+: Custom:mystate\s+State:Idle\s+Presence:not_set\s+Watchers\s+0`).MatchString(out) {
		t.Fatalf("hints before:\n%s", out)
	}
	n.MustRX("console dial set_inuse@devstate_test")
	out := n.MustRX("console dial check@devstate_test")
	if !strings.Contains(out, `-- Executing [check@devstate_test:1] NoOp("Console/dsp", "Custom:mystate is INUSE") in new stack`) {
		t.Fatalf("check:\n%s", out)
	}
	eventually(t, 2*time.Second, func() string {
		out := n.MustRX("core show hints")
		if !regexp.MustCompile(`1234@devstate_test\s+: Custom:mystate\s+State:InUse\s`).MatchString(out) || !strings.Contains(out, "- 1 hints registered") {
			return "hints after set_inuse:\n" + out
		}
		return ""
	})
	if out := n.MustRX("devstate list"); !strings.Contains(out, "--- Name: 'Custom:mystate'  State: 'INUSE'") {
		t.Fatalf("devstate list:\n%s", out)
	}
	// Custom states survive a restart (astdb family CustomDevstate).
	n.MustRX("core stop now")
	if err := n.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	n.Start()
	if out := n.MustRX("console dial check@devstate_test"); !strings.Contains(out, "Custom:mystate is INUSE") {
		t.Fatalf("after restart:\n%s", out)
	}
	if out := n.MustRX("core show hint 1234"); !strings.Contains(out, "State:InUse") {
		t.Fatalf("core show hint after restart:\n%s", out)
	}
	n.MustRX("devstate change Custom:mystate NOT_INUSE")
	eventually(t, 2*time.Second, func() string {
		if out := n.MustRX("core show hints"); !strings.Contains(out, "State:Idle") {
			return "after devstate change:\n" + out
		}
		return ""
	})
	if out := n.MustRX("console dial check@devstate_test"); !strings.Contains(out, "Custom:mystate is NOT_INUSE") {
		t.Fatalf("after devstate change:\n%s", out)
	}
	// The functions over the state engines.
	n.WriteFile("extensions.conf", seedDialplan+`
exten => ext,1,NoOp(ext ${EXTENSION_STATE(1234@devstate_test)} hint ${HINT(1234@devstate_test)})
exten => vm,1,NoOp(vm ${VM_INFO(100@default,count)} ${VM_INFO(100@default,exists)})
exten => 5678,hint,Custom:a&Custom:b
`)
	n.MustRX("dialplan reload")
	n.MustRX("console dial set_inuse@devstate_test")
	if out := n.MustRX("console dial ext@devstate_test"); !strings.Contains(out, "ext INUSE hint Custom:mystate") {
		t.Fatalf("EXTENSION_STATE/HINT:\n%s", out)
	}
	if out := n.MustRX("core show hints"); !strings.Contains(out, "5678@devstate_test") || !strings.Contains(out, "- 2 hints registered") {
		t.Fatalf("hint added by reload:\n%s", out)
	}
}

func TestDeviceStateBadInput(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:31", map[string]string{"extensions.conf": "[t]\nexten => bogus,1,Set(DEVICE_STATE(Custom:x)=SLEEPY)\nexten => sip,1,Set(DEVICE_STATE(SIP/alice)=INUSE)\nexten => c,1,NoOp(${DEVICE_STATE(Custom:x)})\n"})
	n.Start()
	n.MustRX("console dial bogus@t")
	if out := n.MustRX("console dial c@t"); !strings.Contains(out, `NoOp("Console/dsp", "UNKNOWN")`) {
		t.Fatalf("unknown string must set UNKNOWN:\n%s", out)
	}
	out, code := n.RX("devstate change SIP/alice INUSE")
	if code == 0 || !strings.Contains(out, "The devstate command can only be used to set 'Custom:' device state!") {
		t.Fatalf("devstate change on SIP: %d %q", code, out)
	}
}
