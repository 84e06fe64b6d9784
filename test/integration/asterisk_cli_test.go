package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `pleiades -rx` prints what `asterisk -rx` prints where a command fails, so scripts that grep
// for it keep working, and keeps its own exit statuses (Asterisk's is 0 whatever happened).
func TestRXFailureLinesAsAsterisk(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e1:01", nil)
	n.Start()
	for _, c := range []struct {
		cmd, want string
		code      int
	}{
		// res_realtime's CLI_FAILURE: its message, then ast_cli_command_full's line.
		{"realtime destroy nosuch name x", "Failed to remove record. Check the debug log for possible SQL related entries.\nCommand 'realtime destroy nosuch name x' failed.\n", 1},
		{"dialplan show nosuch", "There is no existence of 'nosuch' context\nCommand 'dialplan show nosuch' failed.\n", 1},
		// Asterisk's handle_reload prints its line and returns CLI_SUCCESS: no "failed" line.
		{"module reload nosuch.so", "No such module 'nosuch.so'\n", 1},
		{"bogus command here", "No such command 'bogus command here' (type 'core show help bogus command' for other possible commands)\n", 2},
		{"core show calls banana", "Usage: core show calls [uptime [seconds]]\n", 1},
	} {
		out, code := n.RX(c.cmd)
		if code != c.code || !strings.HasPrefix(out, c.want) {
			t.Errorf("-rx %q: exit %d, want %d; output\n%q\nwant\n%q", c.cmd, code, c.code, out, c.want)
		}
	}
}

// The commands monitoring tools run, and module names as Asterisk spells them.
func TestMonitoringCommandsAsAsterisk(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e1:02", map[string]string{
		"extensions.conf": "[default]\nexten => s,1,Wait(30)\n",
	})
	n.Start()
	if out := n.MustRX("module show like chan_sip.so"); !regexp.MustCompile(`(?m)^chan_sip\.so +Session Initiation Protocol \(SIP\) +0 +Running +deprecated\n1 modules loaded\n$`).MatchString(out) {
		t.Errorf("module show like chan_sip.so:\n%s", out)
	}
	for cmd, want := range map[string]string{
		"module reload chan_sip.so": "Module 'chan_sip.so' reloaded successfully.\n",
		"module reload http":        "Module 'http' reloaded successfully.\n",
		"module reload extconfig":   "Module 'extconfig' reloaded successfully.\n",
		"core reload":               "",
		"core show channels count":  "0 active channels\n0 active calls\n0 calls processed\n",
		"core show channels": fmt.Sprintf("%-64s %-32s %-7s %-30s\n", "Channel", "Location", "State", "Application(Data)") +
			"0 active channels\n0 active calls\n0 calls processed\n",
		"core show channels concise":                "",
		"channel request hangup SIP/alice-00000001": "SIP/alice-00000001 is not a known channel\n",
		"core show channel SIP/alice-00000001":      "SIP/alice-00000001 is not a known channel\n",
	} {
		if out := n.MustRX(cmd); out != want {
			t.Errorf("%s: %q, want %q", cmd, out, want)
		}
	}
	_, done := startDial(t, n)
	if out := n.MustRX("core show channels count"); out != "1 active channel\n1 active call\n1 call processed\n" {
		t.Errorf("core show channels count during a call: %q", out)
	}
	if out := n.MustRX("core show calls uptime seconds"); !regexp.MustCompile(`^1 active call\n1 call processed\nSystem uptime: \d+\n$`).MatchString(out) {
		t.Errorf("core show calls uptime seconds: %q", out)
	}
	n.MustRX("core stop now")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
}

func TestSysinfoAndTaskprocessors(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:e1:03", nil)
	n.Start()
	if out := n.MustRX("core show sysinfo"); !regexp.MustCompile(`^\nSystem Statistics\n-----------------\n  System Uptime:             \d+ hours\n  Total RAM:                 [1-9]\d* KiB\n`).MatchString(out) {
		t.Errorf("core show sysinfo:\n%s", out)
	}
	out := n.MustRX("core show taskprocessors like devstate")
	if !strings.HasPrefix(out, "\nProcessor                                                               Processed   In Queue  Max Depth  Low water High water Low time(us) High time(us)\n") ||
		!regexp.MustCompile(`(?m)^devstate +\d+ +\d+ +\d+ +\d+ +\d+ +0 +0\n\n1 taskprocessors\n\n$`).MatchString(out) {
		t.Errorf("core show taskprocessors like devstate:\n%q", out)
	}
}
