package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/sipphone"
)

// mwiDeviceDialplan adds to the seed a hint on a mailbox's MWI: device and a DEVICE_STATE()
// reader (issue 14 §3).
const mwiDeviceDialplan = seedDialplan + `
[mwi_test]
exten => 8100,hint,MWI:100@default
exten => check,1,NoOp(MWI:100@default is ${DEVICE_STATE(MWI:100@default)})
`

// startMWIDeviceCluster starts two clustered servers with AMI, SIP (peer alice, context
// mwi_test) and the MWI: hint; it returns them, their AMI ports and their SIP ports.
func startMWIDeviceCluster(t *testing.T) ([]*Node, []int, []int) {
	t.Helper()
	routes := freePorts(t, 2)
	amiPorts := freePorts(t, 2)
	sipPorts := freePorts(t, 2)
	var nodes []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:0e:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": mwiDeviceDialplan,
			"cluster.conf":    clusterConf(i, routes, ""),
			"manager.conf":    fmt.Sprintf(managerUser, amiPorts[i]),
			"sip.conf": fmt.Sprintf("[general]\nudpbindaddr = 127.0.0.1:%d\n\n", sipPorts[i]) +
				"[alice]\ntype = friend\nhost = dynamic\nsecret = s3cret\ncontext = mwi_test\n",
		})
		nd.Start()
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		waitMembers(t, nd, 2)
	}
	return nodes, amiPorts, sipPorts
}

func amiLoginEvents(t *testing.T, port int, events string) *amiConn {
	t.Helper()
	a := dialAMI(t, port)
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", events)
	a.until("Response: Success")
	return a
}

// mwiDeviceChange reads a's events until the DeviceStateChange of MWI:100@default to st,
// and fails if the hint's ExtensionStatus (status) did not come before it, as Asterisk
// orders them.
func mwiDeviceChange(t *testing.T, a *amiConn, st, status string) {
	t.Helper()
	sawStatus := false
	for {
		p := a.read()
		switch field(p, "Event") {
		case "ExtensionStatus":
			if field(p, "Exten") == "8100" && field(p, "Context") == "mwi_test" && field(p, "Status") == status {
				sawStatus = true
			}
		case "DeviceStateChange":
			if field(p, "Device") != "MWI:100@default" {
				continue
			}
			if field(p, "State") != st {
				continue // an earlier change, still on its way
			}
			if !sawStatus {
				t.Fatalf("DeviceStateChange MWI:100@default %s before ExtensionStatus 8100@mwi_test Status %s", st, status)
			}
			return
		}
	}
}

// mwiHint waits until nd's "core show hint 8100" shows want.
func mwiHint(t *testing.T, nd *Node, want string) {
	t.Helper()
	re := regexp.MustCompile(`8100@mwi_test\s+: MWI:100@default\s+State:` + regexp.QuoteMeta(want) + `\s`)
	eventually(t, 5*time.Second, func() string {
		if out := nd.MustRX("core show hint 8100"); !re.MatchString(out) {
			return "want State:" + want + " in:\n" + out
		}
		return ""
	})
}

// mwiDeviceState checks DEVICE_STATE(MWI:100@default) through the dialplan and "devstate
// show": one entry (this server's own, the device is derived on each server, never summed).
func mwiDeviceState(t *testing.T, nd *Node, want string) {
	t.Helper()
	if out := nd.MustRX("console dial check@mwi_test"); !strings.Contains(out, `NoOp("Console/dsp", "MWI:100@default is `+want+`")`) {
		t.Fatalf("DEVICE_STATE(MWI:100@default), want %s:\n%s", want, out)
	}
	out := nd.MustRX("devstate show MWI:100@default")
	if !strings.Contains(out, "Cluster-wide: "+want+" (") || strings.Count(out, "02:00:00:00:0e:") != 1 || !strings.Contains(out, "(this server)") {
		t.Fatalf("devstate show MWI:100@default, want %s from this server only:\n%s", want, out)
	}
}

// TestMWIDeviceClusterWide: an MWIUpdate on server 1 turns MWI:100@default INUSE on server 2
// (AMI DeviceStateChange after the hint's ExtensionStatus, the hint InUse, DEVICE_STATE()),
// back to NOT_INUSE with no new messages and when the mailbox is deleted; a restarted server
// has its restored mailbox's device from its first command. A phone on server 2 watching the
// hint (BLF) gets NOTIFY confirmed and terminated.
func TestMWIDeviceClusterWide(t *testing.T) {
	nodes, ports, sipPorts := startMWIDeviceCluster(t)
	// Never updated: INVALID, the hint Unavailable (as Asterisk).
	if out := nodes[1].MustRX("console dial check@mwi_test"); !strings.Contains(out, "MWI:100@default is INVALID") {
		t.Fatalf("before any update:\n%s", out)
	}
	mwiHint(t, nodes[1], "Unavailable")

	ph := sipphone.New(t, fmt.Sprintf("127.0.0.1:%d", sipPorts[1]))
	if res := ph.Register("alice", "s3cret", 120); res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	if res := ph.Subscribe("alice", "s3cret", "8100", "dialog"); res.StatusCode != 200 {
		t.Fatalf("subscribe to 8100: %d %s", res.StatusCode, res.Reason)
	}
	blf := func(state string) {
		t.Helper()
		for {
			r, ok := ph.Next(5 * time.Second)
			if !ok {
				t.Fatalf("no dialog NOTIFY <state>%s</state> for 8100", state)
			}
			if ev := r.Req.GetHeader("Event"); ev != nil && strings.HasPrefix(ev.Value(), "dialog") && strings.Contains(string(r.Req.Body()), "<state>"+state+"</state>") {
				return
			}
		}
	}
	blf("terminated")

	a1 := amiLoginEvents(t, ports[0], "off")
	a2 := amiLoginEvents(t, ports[1], "call")
	update := func(newMsgs int, id string) {
		t.Helper()
		a1.send("Action", "MWIUpdate", "Mailbox", "100@default", "NewMessages", fmt.Sprint(newMsgs), "OldMessages", "1", "ActionID", id)
		a1.until("Response: Success", "ActionID: "+id)
	}

	update(2, "u1")
	mwiDeviceChange(t, a2, "INUSE", "1")
	blf("confirmed")
	for _, nd := range nodes {
		mwiHint(t, nd, "InUse")
		mwiDeviceState(t, nd, "INUSE")
	}

	update(0, "u2")
	mwiDeviceChange(t, a2, "NOT_INUSE", "0")
	blf("terminated")
	for _, nd := range nodes {
		mwiHint(t, nd, "Idle")
		mwiDeviceState(t, nd, "NOT_INUSE")
	}

	// An update made on server 2 wins over server 1's older one, on both.
	a2.send("Action", "MWIUpdate", "Mailbox", "100@default", "NewMessages", "1", "ActionID", "u3")
	mwiDeviceChange(t, a2, "INUSE", "1")
	mwiHint(t, nodes[0], "InUse")

	// MWIDelete: the lamp goes off (Asterisk would leave it lit; see package mwi).
	a1.send("Action", "MWIDelete", "Mailbox", "100@default", "ActionID", "d1")
	a1.until("Response: Success", "ActionID: d1")
	mwiDeviceChange(t, a2, "NOT_INUSE", "0")
	for _, nd := range nodes {
		mwiHint(t, nd, "Idle")
		mwiDeviceState(t, nd, "NOT_INUSE")
	}

	// Restored at restart: server 1 has the device from its first command.
	update(3, "u4")
	mwiDeviceChange(t, a2, "INUSE", "1")
	nodes[0].MustRX("core stop now")
	if err := nodes[0].Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	nodes[0].Start()
	if out := nodes[0].MustRX("core show hint 8100"); !regexp.MustCompile(`8100@mwi_test\s+: MWI:100@default\s+State:InUse\s`).MatchString(out) {
		t.Fatalf("right after the restart:\n%s", out)
	}
	mwiDeviceState(t, nodes[0], "INUSE")
	waitMembers(t, nodes[0], 2)
	mwiHint(t, nodes[1], "InUse")
	mwiDeviceState(t, nodes[1], "INUSE")
	// The restored counts are server 1's again, newest (3 new), on server 2 too.
	eventually(t, 5*time.Second, func() string {
		if out := nodes[1].MustRX("mwi show mailboxes"); !regexp.MustCompile(`100@default\s+3\s+1\s+0\s+02:00:00:00:0e:01\s*\n`).MatchString(out) {
			return "server 2 mailboxes:\n" + out
		}
		return ""
	})
}
