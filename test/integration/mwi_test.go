package integration

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMWISurvivesARestart: counts set with AMI MWIUpdate are kept in astdb (family
// mwi_external/mailboxes, as Asterisk's res_mwi_external keeps them), come back when the server
// restarts, as this server's, and reach the other server of the cluster again; MWIDelete
// removes them for good.
func TestMWISurvivesARestart(t *testing.T) {
	nodes, ports := startAMICluster(t)
	a := dialAMI(t, ports[0])
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "off")
	a.until("Response: Success")
	a.send("Action", "MWIUpdate", "Mailbox", "100@default", "NewMessages", "2", "OldMessages", "5", "ActionID", "u")
	a.until("Response: Success", "ActionID: u")
	nodes[0].MustRX("mwi update 200@other 1 0 3")
	counts := func(nd *Node, mailbox, line string) func() string {
		re := regexp.MustCompile(regexp.QuoteMeta(mailbox) + `\s+` + line)
		return func() string {
			out := nd.MustRX("mwi show mailboxes")
			if !re.MatchString(out) {
				return "want " + mailbox + " " + line + " in:\n" + out
			}
			return ""
		}
	}
	eventually(t, 2*time.Second, counts(nodes[1], "100@default", `2\s+5\s+0\s+02:00:00:00:07:01\s*\n`))
	// Asterisk's layout: one key per mailbox, the counts as a JSON object.
	eventually(t, 2*time.Second, func() string {
		out := nodes[0].MustRX("database show mwi_external")
		if !strings.Contains(out, `/mwi_external/mailboxes/100@default`) || !strings.Contains(out, `"msgs_new":"2"`) || !strings.Contains(out, `"msgs_old":"5"`) {
			return "astdb:\n" + out
		}
		return ""
	})

	nodes[0].MustRX("core stop now")
	if err := nodes[0].Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		if out := nodes[1].MustRX("mwi show mailboxes"); strings.Contains(out, "100@default") {
			return "server 1 is gone but its counts are still on server 2:\n" + out
		}
		return ""
	})
	nodes[0].Start()
	waitMembers(t, nodes[0], 2)
	eventually(t, 2*time.Second, counts(nodes[0], "100@default", `2\s+5\s+0\s+02:00:00:00:07:01 \(this server\)`))
	eventually(t, 2*time.Second, counts(nodes[0], "200@other", `1\s+0\s+3\s+02:00:00:00:07:01 \(this server\)`))
	eventually(t, 5*time.Second, counts(nodes[1], "100@default", `2\s+5\s+0\s+02:00:00:00:07:01\s*\n`))
	eventually(t, 5*time.Second, counts(nodes[1], "200@other", `1\s+0\s+3\s+02:00:00:00:07:01\s*\n`))

	// MWIDelete removes them from astdb too.
	a = dialAMI(t, ports[0])
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "off")
	a.until("Response: Success")
	a.send("Action", "MWIDelete", "Mailbox", "100@default", "ActionID", "d")
	a.until("Response: Success", "ActionID: d")
	eventually(t, 2*time.Second, func() string {
		if out := nodes[0].MustRX("database show mwi_external"); strings.Contains(out, "100@default") {
			return "deleted mailbox still in astdb:\n" + out
		}
		return ""
	})
	nodes[0].MustRX("core stop now")
	if err := nodes[0].Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	nodes[0].Start()
	waitMembers(t, nodes[0], 2)
	eventually(t, 2*time.Second, counts(nodes[0], "200@other", `1\s+0\s+3\s+`))
	if out := nodes[0].MustRX("mwi show mailboxes"); strings.Contains(out, "100@default") {
		t.Fatalf("a deleted mailbox came back after a restart:\n%s", out)
	}
}
