// Package ldaptest starts OpenLDAP's slapd for tests: a private instance on a free 127.0.0.1
// port, its configuration and database in a temporary folder, loading core, cosine and
// Asterisk's schema (../shared/asterisk-schema/asterisk.ldap-schema, read as is: it is in
// slapd.conf's schema format). The suffix is dc=pleiades,dc=test; the root DN
// cn=admin,dc=pleiades,dc=test with password "secret". When slapd is missing the test is
// skipped, or fails when CI=true.
package ldaptest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// Directory names of the instance.
const (
	Suffix  = "dc=pleiades,dc=test"
	AdminDN = "cn=admin," + Suffix
	Pass    = "secret"
)

// Slapd is the path of the server binary.
var Slapd = "/usr/sbin/slapd"

// Server is one running slapd.
type Server struct {
	URL  string
	Addr string
	cmd  *exec.Cmd
}

// Start runs a slapd for the test and stops it at the end.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if _, err := os.Stat(Slapd); err != nil {
		testenv.Unavailable(tb, "ldaptest: %s not installed (Debian package slapd)", Slapd)
	}
	schema := testenv.SharedDir("asterisk-schema")
	if schema == "" {
		testenv.Unavailable(tb, "ldaptest: ../shared/asterisk-schema not found")
	}
	dir := tb.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include %s
pidfile %s
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 104857600
suffix "%s"
rootdn "%s"
rootpw %s
directory %s
index objectClass eq
index cn eq,sub
`, filepath.Join(schema, "asterisk.ldap-schema"), filepath.Join(dir, "slapd.pid"), Suffix, AdminDN, Pass, filepath.Join(dir, "db"))
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	var s *Server
	for attempt := 0; attempt < 5 && s == nil; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(Slapd, "-f", confPath, "-h", "ldap://"+addr+"/", "-d", "0")
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("slapd%d.log", attempt)))
		if err != nil {
			tb.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); out.Close(); close(done) }()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-done:
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
				c.Close()
				s = &Server{URL: "ldap://" + addr, Addr: addr, cmd: cmd}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if s == nil {
			cmd.Process.Kill()
			<-done
			continue
		}
		tb.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			<-done
		})
	}
	if s == nil {
		log, _ := os.ReadFile(filepath.Join(dir, "slapd4.log"))
		tb.Fatalf("ldaptest: slapd did not start:\n%s", log)
	}
	c := s.Admin(tb)
	defer c.Close()
	add := goldap.NewAddRequest(Suffix, nil)
	add.Attribute("objectClass", []string{"dcObject", "organization"})
	add.Attribute("dc", []string{"pleiades"})
	add.Attribute("o", []string{"Pleiades tests"})
	if err := c.Add(add); err != nil {
		tb.Fatalf("ldaptest: adding %s: %v", Suffix, err)
	}
	return s
}

// Admin returns a connection bound as the root DN.
func (s *Server) Admin(tb testing.TB) *goldap.Conn {
	tb.Helper()
	c, err := goldap.DialURL(s.URL)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Bind(AdminDN, Pass); err != nil {
		c.Close()
		tb.Fatal(err)
	}
	return c
}

// AddOU creates ou=name under the suffix and returns its DN.
func (s *Server) AddOU(tb testing.TB, name string) string {
	tb.Helper()
	c := s.Admin(tb)
	defer c.Close()
	dn := "ou=" + goldap.EscapeDN(name) + "," + Suffix
	add := goldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	add.Attribute("ou", []string{name})
	if err := c.Add(add); err != nil {
		tb.Fatal(err)
	}
	return dn
}

// Freeze stops the server process (SIGSTOP): connections stay open and nothing answers, as a
// hung server. Thaw resumes it.
func (s *Server) Freeze(tb testing.TB) {
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatal(err)
	}
}

// Thaw resumes a frozen server.
func (s *Server) Thaw(tb testing.TB) {
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Fatal(err)
	}
}
