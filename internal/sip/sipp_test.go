package sip

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// sippPath returns the sipp binary, skipping the test when it is missing (failing with CI=true).
func sippPath(t *testing.T) string {
	t.Helper()
	const p = "/usr/bin/sipp"
	if _, err := os.Stat(p); err != nil {
		testenv.Unavailable(t, "sipp not installed (Debian sip-tester): %v", err)
	}
	return p
}

func sippDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../../test/sipp")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runSipp runs one scenario against addr and returns its output; it fails the test when sipp
// fails (unless wantFail).
func runSipp(t *testing.T, addr, scenario string, args ...string) {
	runSippCSV(t, addr, scenario, "users.csv", args...)
}

func runSippCSV(t *testing.T, addr, scenario, csv string, args ...string) {
	t.Helper()
	dir := sippDir(t)
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{addr, "-sf", filepath.Join(dir, scenario), "-inf", filepath.Join(dir, csv),
		"-i", "127.0.0.1", "-t", "u1", "-nostdin", "-timeout", "15s", "-timeout_error", "-trace_err", "-trace_msg"}, args...)
	if !slices.Contains(args, "-mp") {
		// sipp binds its media sockets even when a scenario has none; left to itself it picks
		// ports that another process may hold (a failed bind is a failed run)
		full = append(full, "-mp", sippMediaPort(t))
	}
	cmd := exec.CommandContext(ctx, sippPath(t), full...)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs := ""
		files, _ := filepath.Glob(filepath.Join(work, "*.log"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			logs += "\n==== " + filepath.Base(f) + "\n" + tail(string(b), 4000)
		}
		t.Fatalf("sipp %s: %v\n%s%s", scenario, err, tail(string(out), 2000), logs)
	}
}

// sippMediaPort is a port pair sipp can bind for its media: Linux gives odd ports to bind(0),
// sipp takes the even one below and the ones above.
func sippMediaPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port &^ 1)
}

// freeTCPPort returns a port that sipp can listen on over TCP (-t t1 -p PORT): free for TCP
// and UDP on 127.0.0.1 when asked, and below the kernel's ephemeral range (32768 and up),
// where a port picked by binding to :0 comes from, and where any process's outgoing
// connection may take it before sipp binds it (a CI run saw sipp's "Unable to bind main
// socket, errno = 98"). 23000-29999 is also clear of the tests' fixed RTP ranges.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	for range 200 {
		p := 23000 + rand.IntN(7000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
		l.Close()
		if err != nil {
			continue
		}
		c.Close()
		return p
	}
	t.Fatal("no free TCP and UDP port in 23000-29999")
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

const sippConf = baseConf + "qualifyfreq=1\nsubminexpiry=1\n" +
	"[alice]\ntype=friend\nhost=dynamic\nsecret=wonderland\nqualify=1000\nsubscribecontext=blf\n" +
	"[bob]\ntype=friend\nhost=dynamic\nsecret=builder\nqualify=1000\n"

func TestSippRegister(t *testing.T) {
	sippPath(t)
	e := newEnv(t, sippConf, false)
	runSipp(t, e.addr, "register.xml", "-m", "2", "-l", "1")
	waitFor(t, 2*time.Second, "both registered", func() bool {
		return e.ds.get("SIP/alice") != "" && e.ds.get("SIP/bob") != "" && strings.Count(e.cli("sip show peers"), "127.0.0.1") == 2
	})
	runSippCSV(t, e.addr, "register-wrong.xml", "users-wrong.csv", "-m", "2", "-l", "1")
	if !strings.Contains(e.log.String(), "wrong password") || !strings.Contains(e.log.String(), "no such peer") {
		t.Fatal("wrong password not logged")
	}
}

func TestSippOptions(t *testing.T) {
	sippPath(t)
	e := newEnv(t, sippConf, false)
	// answering OPTIONS (-aa): reachable
	done := make(chan struct{})
	go func() { defer close(done); runSipp(t, e.addr, "register-hold.xml", "-m", "1", "-aa") }()
	waitFor(t, 5*time.Second, "OK", func() bool { return strings.Contains(e.cli("sip show peers"), "OK (") })
	waitFor(t, time.Second, "NOT_INUSE", func() bool { return e.ds.get("SIP/alice") == "NOT_INUSE" })
	<-done
	// not answering: UNREACHABLE
	go func() { runSipp(t, e.addr, "register-hold.xml", "-m", "1") }()
	waitFor(t, 8*time.Second, "UNREACHABLE", func() bool {
		return strings.Contains(e.cli("sip show peers"), "UNREACHABLE") && e.ds.get("SIP/alice") == "UNAVAILABLE"
	})
}

func TestSippSubscribeDialog(t *testing.T) {
	sippPath(t)
	e := newEnv(t, sippConf, false)
	e.hints.set("100", "blf", 0)
	done := make(chan struct{})
	go func() { defer close(done); runSipp(t, e.addr, "subscribe-dialog.xml", "-s", "100", "-m", "1") }()
	waitFor(t, 5*time.Second, "subscription", func() bool { return e.s.subs.len() == 1 })
	time.Sleep(300 * time.Millisecond)
	e.hints.set("100", "blf", 1)
	time.Sleep(300 * time.Millisecond)
	e.hints.set("100", "blf", 8)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("sipp did not finish")
	}
	waitFor(t, time.Second, "unsubscribed", func() bool { return e.s.subs.len() == 0 })
}
