package ami

import (
	"fmt"
	"testing"
)

const escalationConf = `[general]
enabled = yes
port = 0
bindaddr = 127.0.0.1

[caller]
secret = pw
read = all
write = call

[reporter]
secret = pw
read = all
write = reporting

[originator]
secret = pw
read = all
write = originate

[sys]
secret = pw
read = all
write = system,call,reporting,originate
`

// The Manager asks the Backend with the user's privilege and answers its refusal with
// Asterisk's messages: Getvar, Setvar and Originate (Application and Data) of something that
// escalates are refused unless the user has the system write class; what does not escalate
// passes for every user the action's class lets in. There is no list of functions in the
// Manager: the fake backend, like the dialplan, knows which escalate.
func TestEscalationAnsweredPerClass(t *testing.T) {
	e := startServer(t, escalationConf, nil)
	type act struct {
		name  string
		lines []string
		ok    string // response message when allowed
		no    string // when refused for escalation
		class Class  // write class the action needs
	}
	acts := func(fn string) []act {
		return []act{
			{"Getvar", []string{"Action: Getvar", "Variable: " + fn}, "", "GetVar Access Forbidden: Variable", ClassCall | ClassReporting},
			{"Setvar", []string{"Action: Setvar", "Variable: " + fn, "Value: x"}, "Variable Set", "Variable not set", ClassCall},
			{"Originate", []string{"Action: Originate", "Channel: Local/s@default", "Application: Set", "Data: " + fn + "=x"}, "Originate successfully queued", "Originate Access Forbidden: app or data blacklisted", ClassOriginate},
		}
	}
	users := map[string]Class{"caller": ClassCall, "reporter": ClassReporting, "originator": ClassOriginate, "sys": ClassSystem | ClassCall | ClassReporting | ClassOriginate}
	for _, fn := range []string{"REALTIME_STORE(manager,name,secret)", "REALTIME(sippeers,name,carol)", "DB(f/k)", "SHELL(id)", "GLOBALVAR", "DEVICE_STATE(Custom:x)"} {
		escalates := fakeEscalates(fn)
		for user, class := range users {
			c := dial(t, e.addr)
			c.login(user, "pw", "Events: off")
			for _, a := range acts(fn) {
				t.Run(fmt.Sprintf("%s/%s/%s", fn, user, a.name), func(t *testing.T) {
					p := c.action(a.lines...)
					switch {
					case class&a.class == 0:
						want(t, p, "Response", "Error", "Message", "Permission denied")
					case escalates && class&ClassSystem == 0:
						want(t, p, "Response", "Error", "Message", a.no)
					case a.ok == "":
						want(t, p, "Response", "Success")
					default:
						want(t, p, "Response", "Success", "Message", a.ok)
					}
				})
			}
		}
	}
	// Data is checked as well as the application.
	c := dial(t, e.addr)
	c.login("originator", "pw", "Events: off")
	want(t, c.action("Action: Originate", "Channel: Local/s@default", "Application: System", "Data: id"),
		"Message", "Originate Access Forbidden: app or data blacklisted")
	want(t, c.action("Action: Originate", "Channel: Local/s@default", "Application: NoOp", "Data: ${SHELL(id)}", "Async: yes"),
		"Message", "Originate Access Forbidden: app or data blacklisted")
	want(t, c.action("Action: Originate", "Channel: Local/s@default", "Application: NoOp", "Data: hello"),
		"Response", "Success")
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	for _, r := range e.b.originate {
		if fakeEscalates(r.App+"("+r.Data) && !r.Privileged {
			t.Errorf("an escalating originate reached the backend unprivileged: %+v", r)
		}
	}
}
