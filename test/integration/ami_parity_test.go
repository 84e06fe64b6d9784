package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/golden"
)

// Side by side with Asterisk 20 (issue 14): AMI behaviour pinned against the real binary.

// startAMINode starts one server with the Manager interface on (user admin, secret amp111)
// and the given dialplan (systemname pbx1, so events say SystemName: pbx1 on any host); it
// returns its AMI port.
func startAMINode(t *testing.T, dialplan string) (*Node, int) {
	t.Helper()
	port := freePorts(t, 1)[0]
	nd := NewNode(t, "systemname = pbx1", map[string]string{
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
	// Every DeviceStateChange of Custom:mystate, in order (one may come before or after the
	// Setvar's response).
	var changes []string
	note := func(p []string) {
		if field(p, "Event") == "DeviceStateChange" && field(p, "Device") == "Custom:mystate" {
			changes = append(changes, field(p, "State"))
		}
	}
	set := func(value string) []string {
		id := "set-" + value
		a.send("Action", "Setvar", "Variable", "DEVICE_STATE(Custom:mystate)", "Value", value, "ActionID", id)
		for {
			p := a.read()
			if field(p, "ActionID") == id {
				return p
			}
			note(p)
		}
	}
	// waitChange reads until the n-th change has come.
	waitChange := func(n int) {
		for len(changes) < n {
			note(a.read())
		}
	}
	if p := set("INUSE"); field(p, "Response") != "Success" || field(p, "Message") != "Variable Set" {
		t.Fatalf("INUSE: %q", p)
	}
	waitChange(1)
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
	// The next change is the next good write's, nothing in between.
	if p := set("NOT_INUSE"); field(p, "Response") != "Success" {
		t.Fatalf("NOT_INUSE: %q", p)
	}
	waitChange(2)
	if got := strings.Join(changes, ","); got != "INUSE,NOT_INUSE" {
		t.Fatalf("device state changes %s, want INUSE,NOT_INUSE", got)
	}
}

// originateDialplan is the far end of the Originate transcript: one extension per way a dial
// ends.
const originateDialplan = `[far]
exten => answer,1,Answer()
 same => n,Wait(1)
exten => hangup,1,Hangup()
exten => fallthrough,1,NoOp()
exten => noanswer,1,Ringing()
 same => n,Wait(30)
exten => busy,1,Busy()
exten => congestion,1,Congestion()

[dest]
exten => 100,1,Set(GLOBAL(RAN_${WHO})=exten)
`

// amiTranscript sends each request (kv pairs) on a and returns the requests and what came
// back, as the AMI unit goldens show them: the response, and with until set the packets up
// to the one holding that line.
type amiStep struct {
	req   []string
	until string
}

func amiTranscript(a *amiConn, steps []amiStep) string {
	var out strings.Builder
	for _, st := range steps {
		out.WriteString(">>>\n")
		for i := 0; i+1 < len(st.req); i += 2 {
			out.WriteString(st.req[i] + ": " + st.req[i+1] + "\n")
		}
		out.WriteString("<<<\n")
		a.send(st.req...)
		p := a.read()
		out.WriteString(strings.Join(p, "\n") + "\n\n")
		for st.until != "" && !strings.Contains("\n"+strings.Join(p, "\n")+"\n", "\n"+st.until+"\n") {
			p = a.read()
			out.WriteString(strings.Join(p, "\n") + "\n\n")
		}
	}
	return out.String()
}

var originateVolatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^Channel: (Local/[^-\n]*)-[0-9a-f]{8};1$`), "Channel: $1-<n>;1"},
	{regexp.MustCompile(`(?m)^Uniqueid: [0-9]+\.[0-9]+$`), "Uniqueid: <id>"},
}

// Originate succeeds only when the far end answers, as in Asterisk 20: synchronously
// "Originate successfully queued" or "Originate failed"; asynchronously an OriginateResponse
// with Response Success and Reason 4, or Failure with Asterisk's reason (0 the far end hung up
// or ended without answering, 3 no answer within Timeout, 5 Busy(), 8 Congestion()), the
// requested channel and Uniqueid <unknown>. The application or extension runs only after an
// answer.
func TestAMIOriginateAnsweredOrNot(t *testing.T) {
	_, port := startAMINode(t, originateDialplan)
	a := dialAMI(t, port)
	a.send("Action", "Login", "Username", "admin", "Secret", "amp111", "Events", "off")
	a.until("Response: Success")
	originate := func(exten, id string, extra ...string) []string {
		req := []string{"Action", "Originate", "Channel", "Local/" + exten + "@far"}
		if len(extra) > 0 && extra[0] == "exten" {
			req = append(req, "Context", "dest", "Exten", "100", "Priority", "1", "Variable", "WHO="+id)
			extra = extra[1:]
		} else {
			req = append(req, "Application", "Set", "Data", "GLOBAL(RAN_"+id+")=app")
		}
		return append(append(req, extra...), "ActionID", id)
	}
	var steps []amiStep
	for _, c := range []struct{ exten, how string }{
		{"answer", "app"}, {"answer", "exten"}, {"hangup", "app"}, {"fallthrough", "exten"}, {"noanswer", "app"}, {"busy", "exten"}, {"congestion", "app"},
	} {
		id := "sync-" + c.exten + "-" + c.how
		extra := []string{"Timeout", "500"}
		if c.how == "exten" {
			extra = append([]string{"exten"}, extra...)
		}
		steps = append(steps, amiStep{req: originate(c.exten, id, extra...)})
	}
	steps = append(steps, amiStep{req: []string{"Action", "Events", "EventMask", "call", "ActionID", "events"}})
	for _, c := range []struct{ exten, how string }{
		{"answer", "app"}, {"answer", "exten"}, {"hangup", "app"}, {"fallthrough", "exten"}, {"noanswer", "exten"}, {"busy", "app"}, {"congestion", "exten"},
	} {
		id := "async-" + c.exten + "-" + c.how
		extra := []string{"Timeout", "500", "Async", "true", "CallerID", `"Bob" <200>`}
		if c.how == "exten" {
			extra = append([]string{"exten"}, extra...)
		}
		steps = append(steps, amiStep{req: originate(c.exten, id, extra...), until: "Event: OriginateResponse"})
	}
	got := amiTranscript(a, steps)
	for _, v := range originateVolatile {
		got = v.re.ReplaceAllString(got, v.with)
	}
	golden.Check(t, "ami_originate.golden", got)

	// The ;1 half ran where the far end answered, and nowhere else.
	a.send("Action", "Events", "EventMask", "off", "ActionID", "off")
	a.until("ActionID: off")
	time.Sleep(300 * time.Millisecond)
	for _, prefix := range []string{"sync-", "async-"} {
		for _, c := range []struct{ id, want string }{
			{"answer-app", "app"}, {"answer-exten", "exten"}, {"hangup-app", ""}, {"fallthrough-exten", ""},
			{"noanswer-app", ""}, {"noanswer-exten", ""}, {"busy-exten", ""}, {"busy-app", ""}, {"congestion-app", ""}, {"congestion-exten", ""},
		} {
			if p := a.action("Action", "Getvar", "Variable", "RAN_"+prefix+c.id); field(p, "Value") != c.want {
				t.Errorf("RAN_%s%s = %q, want %q", prefix, c.id, field(p, "Value"), c.want)
			}
		}
	}
}
