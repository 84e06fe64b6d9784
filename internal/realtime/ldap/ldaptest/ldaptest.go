// Package ldaptest starts OpenLDAP's slapd for tests: a private instance on a free 127.0.0.1
// port, its configuration and database in a temporary folder, loading core, cosine and
// Asterisk's schema (../shared/asterisk-schema/asterisk.ldap-schema, read as is: it is in
// slapd.conf's schema format). The suffix is dc=pleiades,dc=test; the root DN
// cn=admin,dc=pleiades,dc=test with password "secret". When slapd is missing the test is
// skipped, or fails when CI=true.
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
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
	// With StartTLS: LDAPS is the ldaps:// URL and CAFile the PEM of the CA that signed the
	// server's certificate (for 127.0.0.1); StartTLS works on URL too.
	LDAPS  string
	CAFile string
	cmd    *exec.Cmd
}

// Options change what Start runs.
type Options struct {
	TLS bool // a certificate for 127.0.0.1, StartTLS on URL and an ldaps:// listener
}

// Start runs a slapd for the test and stops it at the end.
func Start(tb testing.TB) *Server { return StartWith(tb, Options{}) }

// StartWith runs a slapd with options.
func StartWith(tb testing.TB, o Options) *Server {
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
	var caFile string
	if o.TLS {
		var certFile, keyFile string
		caFile, certFile, keyFile = writeCert(tb, dir)
		conf = fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n", caFile, certFile, keyFile) + conf
	}
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
		l2, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr2 := l2.Addr().String()
		l.Close()
		l2.Close()
		urls := "ldap://" + addr + "/"
		if o.TLS {
			urls += " ldaps://" + addr2 + "/"
		}
		cmd := exec.Command(Slapd, "-f", confPath, "-h", urls, "-d", "0")
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
				if o.TLS {
					s.LDAPS, s.CAFile = "ldaps://"+addr2, caFile
				}
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
	// The signal is delivered asynchronously: wait until the kernel shows every thread
	// stopped, so that no request sent from now on is answered.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s.stopped(tb) {
			return
		}
	}
	tb.Fatal("ldaptest: slapd did not stop")
}

func (s *Server) stopped(tb testing.TB) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", s.cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		tb.Fatalf("ldaptest: no threads of slapd in /proc: %v", err)
	}
	for _, stat := range tasks {
		b, err := os.ReadFile(stat)
		if err != nil {
			return false
		}
		// pid (comm) state ...: the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// Thaw resumes a frozen server.
func (s *Server) Thaw(tb testing.TB) {
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Fatal(err)
	}
}

// writeCert writes a CA and a certificate for 127.0.0.1 signed by it, as PEM files.
func writeCert(tb testing.TB, dir string) (caFile, certFile, keyFile string) {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ldaptest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", keyDER)
}
