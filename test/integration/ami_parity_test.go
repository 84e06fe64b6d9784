package integration

import (
	"fmt"
	"strings"
	"testing"
)

// Side by side with Asterisk 20 (issue 14): AMI behaviour pinned against the real binary.

// startAMINode starts one server with the Manager interface on (user admin, secret amp111)
// and the given dialplan; it returns its AMI port.
func startAMINode(t *testing.T, dialplan string) (*Node, int) {
	t.Helper()
	port := freePorts(t, 1)[0]
	nd := NewNode(t, "", map[string]string{
		"extensions.conf": dialplan,
		"manager.conf":    fmt.Sprintf(managerUser, port),
	})
	nd.Start()
	return nd, port
}

// For a device with a hint, ExtensionStatus comes before DeviceStateChange, every time (as
// Asterisk 20 sends them). Two independent subscriptions used to race: the DeviceStateChange
// came first about 3 times in 10, so 100 changes all but never pass without one ordered path.
func TestAMIExtensionStatusBeforeDeviceStateChange(t *testing.T) {
	_, port := startAMINode(t, seedDialplan)
	a := dialAMI(t, port)
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "call")
	a.until("Response: Success")
	wrong := 0
	for i := range 100 {
		st, status := "INUSE", "1"
		if i%2 == 1 {
			st, status = "NOT_INUSE", "0"
		}
		id := fmt.Sprintf("set%d", i)
		a.send("Action", "Setvar", "Variable", "DEVICE_STATE(Custom:mystate)", "Value", st, "ActionID", id)
		var order []string
		for len(order) < 3 {
			p := "\n" + strings.Join(a.read(), "\n") + "\n"
			switch {
			case strings.Contains(p, "\nActionID: "+id+"\n"):
				if !strings.Contains(p, "\nResponse: Success\n") {
					t.Fatalf("Setvar %s: %q", st, p)
				}
				order = append(order, "response")
			case strings.Contains(p, "\nEvent: ExtensionStatus\n") && strings.Contains(p, "\nExten: 1234\n") && strings.Contains(p, "\nStatus: "+status+"\n"):
				order = append(order, "ExtensionStatus")
			case strings.Contains(p, "\nEvent: DeviceStateChange\n") && strings.Contains(p, "\nDevice: Custom:mystate\n") && strings.Contains(p, "\nState: "+st+"\n"):
				order = append(order, "DeviceStateChange")
			default:
				t.Fatalf("change %d: unexpected packet %q", i, p)
			}
		}
		got := strings.Join(order, ",")
		if strings.Index(got, "ExtensionStatus") > strings.Index(got, "DeviceStateChange") {
			wrong++
			t.Errorf("change %d (%s): %s", i, st, got)
		}
	}
	if wrong > 0 {
		t.Errorf("DeviceStateChange before ExtensionStatus in %d of 100 changes", wrong)
	}
}

// Setvar DEVICE_STATE(Custom:x) with a value that is not a state name, or UNKNOWN, answers
// "Variable not set" and changes nothing (no event, the state stays), as Asterisk 20.
func TestAMISetvarDeviceStateRefusesInvalidValues(t *testing.T) {
	_, port := startAMINode(t, seedDialplan)
	a := dialAMI(t, port)
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "call")
	a.until("Response: Success")
	set := func(value string) []string {
		id := "set-" + value
		a.send("Action", "Setvar", "Variable", "DEVICE_STATE(Custom:mystate)", "Value", value, "ActionID", id)
		for {
			p := a.read()
			if field(p, "ActionID") == id {
				return p
			}
			if field(p, "Event") == "DeviceStateChange" && field(p, "State") != "INUSE" && field(p, "State") != "NOT_INUSE" {
				t.Fatalf("state changed to %s", field(p, "State"))
			}
		}
	}
	if p := set("INUSE"); field(p, "Response") != "Success" || field(p, "Message") != "Variable Set" {
		t.Fatalf("INUSE: %q", p)
	}
	a.until("Event: DeviceStateChange", "State: INUSE")
	for _, v := range []string{"bogus", "UNKNOWN", "unknown", ""} {
		p := set(v)
		if strings.Join(p, "|") != "Response: Error|ActionID: set-"+v+"|Message: Variable not set" {
			t.Fatalf("%q: %q", v, p)
		}
	}
	p := a.action("Action", "Getvar", "Variable", "DEVICE_STATE(Custom:mystate)")
	if field(p, "Value") != "INUSE" {
		t.Fatalf("state after refused writes: %q", p)
	}
	// The next event is the next good write's, nothing in between.
	if p := set("NOT_INUSE"); field(p, "Response") != "Success" {
		t.Fatalf("NOT_INUSE: %q", p)
	}
	a.until("Event: DeviceStateChange", "State: NOT_INUSE")
}
