package integration

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// netns makes a network namespace with a veth pair to this one: host side hostIP, namespace
// side nsIP (a /30 of the project's own), removed at the end. It returns the command prefix
// that runs a program inside, and functions that cut and heal the link.
func netns(t *testing.T, name, hostIP, nsIP string) (wrap []string, cut, heal func()) {
	t.Helper()
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	host, peer := name+"h", name+"n"
	exec.Command("ip", "netns", "del", name).Run()
	exec.Command("ip", "link", "del", host).Run()
	if err := run("netns", "add", name); err != nil {
		testenv.Unavailable(t, "cannot make a network namespace: %v", err)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		exec.Command("ip", "netns", "del", name).Run()
	})
	for _, step := range [][]string{
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", name},
		{"addr", "add", hostIP + "/30", "dev", host},
		{"link", "set", host, "up"},
		{"-n", name, "addr", "add", nsIP + "/30", "dev", peer},
		{"-n", name, "link", "set", peer, "up"},
		{"-n", name, "link", "set", "lo", "up"},
	} {
		if err := run(step...); err != nil {
			t.Fatal(err)
		}
	}
	cut = func() {
		if err := run("link", "set", host, "down"); err != nil {
			t.Fatal(err)
		}
	}
	heal = func() {
		if err := run("link", "set", host, "up"); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"ip", "netns", "exec", name}, cut, heal
}

// TestClusterPartitionHeals cuts server 2 (in its own network namespace) off, changes states
// on both sides while they are apart, heals the link and checks that both converge.
func TestClusterPartitionHeals(t *testing.T) {
	const hostIP, nsIP = "10.77.0.1", "10.77.0.2"
	wrap, cut, heal := netns(t, "plpart", hostIP, nsIP)
	ports := freePorts(t, 2)
	conf := func(i int, self, other string) string {
		return fmt.Sprintf("[general]\nnode_name = node%d\nlisten = %s:%d\nroutes = %s:%d\nheartbeat_interval = 200\nmember_timeout = 1000\n",
			i+1, self, ports[i], other, ports[1-i])
	}
	dialplan := seedDialplan + "\nexten => 5000,hint,Custom:side1\nexten => 5001,hint,Custom:side2\n"
	n1 := NewNode(t, "entityid = 02:00:00:00:06:01\nsystemname = node1", map[string]string{"extensions.conf": dialplan, "cluster.conf": conf(0, hostIP, nsIP)})
	n2 := NewNode(t, "entityid = 02:00:00:00:06:02\nsystemname = node2", map[string]string{"extensions.conf": dialplan, "cluster.conf": conf(1, nsIP, hostIP)})
	n2.Wrap = wrap
	n1.Start()
	n2.Start()
	waitMembers(t, n1, 2)
	waitMembers(t, n2, 2)
	n1.MustRX("devstate change Custom:mystate INUSE")
	hintState(t, n2, "InUse", 2*time.Second)

	cut()
	// Each side loses the other after member_timeout and forgets its states.
	waitMembers(t, n1, 1)
	waitMembers(t, n2, 1)
	hintState(t, n2, "Idle", 2*time.Second)
	n1.MustRX("devstate change Custom:side1 BUSY")
	n2.MustRX("devstate change Custom:side2 RINGING")
	n1.MustRX("mwi update 42@default 5 1")

	heal()
	healed := time.Now()
	want := map[string]string{"1234@devstate_test": "InUse", "5000@devstate_test": "Busy", "5001@devstate_test": "Ringing"}
	for _, nd := range []*Node{n1, n2} {
		eventually(t, 3*time.Second, func() string {
			out := nd.MustRX("core show hints")
			for key, st := range want {
				found := false
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, key) && strings.Contains(l, "State:"+st+" ") {
						found = true
					}
				}
				if !found {
					return fmt.Sprintf("%s not %s %v after the heal:\n%s", key, st, time.Since(healed), out)
				}
			}
			if mb := nd.MustRX("mwi show mailboxes"); !strings.Contains(mb, "42@default") {
				return "mailbox missing after the heal:\n" + mb
			}
			return ""
		})
	}
	t.Logf("converged %v after the heal", time.Since(healed))
}
