package ami

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

func TestCLICommands(t *testing.T) {
	e := startServer(t, testConf, nil)
	e.reg.MustRegister(e.srv.Commands()...)
	reloads := 0
	e.srv.SetReloader(func(ctx context.Context) error {
		reloads++
		cfg, err := conf.Parse("manager.conf", []byte(testConf), conf.Options{})
		if err != nil {
			return err
		}
		return e.srv.Configure(cfg)
	})
	c := dial(t, e.addr)
	c.login("reader", "readerpw")
	dial(t, e.addr) // not logged in
	run := func(line string) string {
		var out bytes.Buffer
		if err := e.reg.Run(context.Background(), line, &out, nil); err != nil {
			t.Errorf("%s: %v", line, err)
		}
		return out.String()
	}
	out := run("manager show connected")
	lines := strings.Split(out, "\n")
	if lines[0] != "  Username         IP Address                                               Start       Elapsed     FileDes   HttpCnt   ReadPerms   WritePerms" {
		t.Errorf("header %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "  reader           127.0.0.1  ") || !strings.Contains(lines[1], "0000000002  0000000514") {
		t.Errorf("row %q", lines[1])
	}
	if !strings.Contains(out, "2 users connected.\n") {
		t.Errorf("count: %q", out)
	}
	if got := run("manager show users"); got != "\nusername\n--------\nadmin\nreader\nnobody\ndenied\nfiltered\nsecurity\n-------------------\n6 manager users configured.\n" {
		t.Errorf("show users: %q", got)
	}
	got := run("manager show user denied")
	if !strings.Contains(got, "          username: denied\n            secret: <Set>\n               ACL: yes\n         read perm: system,call,log,verbose,command,agent,user,config,dtmf,reporting,cdr,dialplan,originate,agi,cc,aoc,test,security,message,all\n") ||
		!strings.Contains(got, "  0:  deny - 0.0.0.0/0.0.0.0\n  1: allow - 10.0.0.0/255.0.0.0\n") {
		t.Errorf("show user: %q", got)
	}
	if got := run("manager show user nope"); got != "There is no manager called nope\n" {
		t.Errorf("show user nope: %q", got)
	}
	got = run("manager show commands")
	if !strings.HasPrefix(got, "  Action              Synopsis\n  ------              --------\n  Challenge           Generate Challenge for MD5 Auth.\n") {
		t.Errorf("show commands: %q", got)
	}
	if got := run("manager show queues"); !strings.Contains(got, "reader") || !strings.Contains(got, "(login)") {
		t.Errorf("show queues: %q", got)
	}
	run("manager reload")
	if reloads != 1 {
		t.Errorf("reloads %d", reloads)
	}
	// The Command action runs CLI commands through the registry.
	a := dial(t, e.addr)
	a.login("admin", "adminpw", "Events: off")
	p := a.action("Action: Command", "Command: manager show users")
	if p.Get("Message") != "Command output follows" || len(p.All("Output")) != 11 || p.All("Output")[0] != "" {
		t.Errorf("Command: %q", p.Lines)
	}
}
