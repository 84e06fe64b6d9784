package httpapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name, http, ari string
		want            []string // substrings of the error, in order; none: valid
	}{
		{name: "defaults"},
		{name: "enabled without bindaddr", http: "[general]\nenabled=yes\n", want: []string{"http.conf:1: enabled=yes needs a bindaddr"}},
		{name: "bad values, all reported", http: "[general]\nenabled=maybe\nbindaddr=localhost\nbindport=99999\nsessionlimit=0\nsession_inactivity=x\nredirect=/only\n",
			want: []string{"http.conf:2: enabled:", "http.conf:3: bindaddr:", "http.conf:4: bindport:", "http.conf:5: sessionlimit:", "http.conf:6: session_inactivity:", "http.conf:7: redirect:"}},
		{name: "tls without cert", http: "[general]\nenabled=yes\nbindaddr=127.0.0.1\ntlsenable=yes\n", want: []string{"tlsenable=yes needs a tlscertfile"}},
		{name: "tls unreadable cert", http: "[general]\nenabled=yes\nbindaddr=127.0.0.1\ntlsenable=yes\ntlscertfile=/nonexistent.pem\n", want: []string{"http.conf:5: tlscertfile/tlsprivatekey:"}},
		{name: "user without password", ari: "[u]\ntype=user\n", want: []string{"ari.conf:1: [u]: user has no password"}},
		{name: "user of unknown type", ari: "[u]\ntype=admin\npassword=x\n", want: []string{`ari.conf:1: [u]: unknown type "admin"`}},
		{name: "bad password_format", ari: "[u]\ntype=user\npassword=x\npassword_format=md5\n", want: []string{"ari.conf:4: password_format:"}},
		{name: "crypt with a DES hash", ari: "[u]\ntype=user\npassword=abJnggxhB/yWI\npassword_format=crypt\n", want: []string{"ari.conf:4: [u] password: unsupported crypt hash"}},
		{name: "bad ari general", ari: "[general]\nenabled=sometimes\nwebsocket_write_timeout=0\nwebsocket_queue=-3\n", want: []string{"ari.conf:2:", "ari.conf:3:", "ari.conf:4:"}},
		{name: "valid crypt", ari: "[u]\ntype=user\npassword=$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1\npassword_format=crypt\n"},
		{name: "unsupported things only warn", http: "[general]\nenable_static=yes\ntlscipher=ALL\nfoo=bar\n[post_mappings]\nx=/tmp\n[/ari]\ntype=restriction\n",
			ari: "[general]\nchannelvars=a\n[u]\ntype=user\npassword=p\npermit=127.0.0.1\n[c]\ntype=outbound_websocket\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hc, ac *conf.Config
			if c.http != "" {
				hc = parseConf(t, "http.conf", c.http)
			}
			if c.ari != "" {
				ac = parseConf(t, "ari.conf", c.ari)
			}
			_, err := parseSettings(hc, ac, "")
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var el conf.ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("error %v is not a conf.ErrorList", err)
			}
			msg := err.Error()
			at := 0
			for _, w := range c.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error:\n%s\nlacks (in order) %q", msg, w)
				}
				at += i + len(w)
			}
			if len(el) != len(c.want) {
				t.Fatalf("%d errors, want %d:\n%s", len(el), len(c.want), msg)
			}
		})
	}
}

func TestReconfigureRebinds(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	old := f.srv.Addr()
	f.expect(t, "GET", "/ari/deviceStates", admin, 200, nil)

	// A bad configuration changes nothing.
	if err := f.srv.Configure(parseConf(t, "http.conf", "[general]\nenabled=yes\nbindport=80\n"), nil); err == nil {
		t.Fatal("bad config accepted")
	}
	if f.srv.Addr() != old {
		t.Fatal("address changed after a failed Configure")
	}
	f.expect(t, "GET", "/ari/deviceStates", admin, 200, nil)
	// A port in use: the listen error, and the old listener keeps serving.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	if err := f.srv.Configure(parseConf(t, "http.conf", testHTTPConf+"bindport="+port+"\n"), parseConf(t, "ari.conf", testARIConf)); err == nil {
		t.Fatal("listening on a busy port succeeded")
	}
	f.expect(t, "GET", "/ari/deviceStates", admin, 200, nil)

	// New port and new users: the new listener serves, the old one is gone.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ = net.SplitHostPort(free.Addr().String())
	free.Close()
	if err := f.srv.Configure(parseConf(t, "http.conf", testHTTPConf+"bindport="+port+"\n"), parseConf(t, "ari.conf", "[other]\ntype=user\npassword=pw\n")); err != nil {
		t.Fatal(err)
	}
	if f.srv.Addr() == old {
		t.Fatal("not rebound")
	}
	if _, err := net.DialTimeout("tcp", old, time.Second); err == nil {
		t.Fatal("old listener still open")
	}
	f.base = "http://" + f.srv.Addr()
	f.expect(t, "GET", "/ari/deviceStates", admin, 401, nil)
	f.expect(t, "GET", "/ari/deviceStates", "other:pw", 200, nil)

	// Same address, new keep-alive: a new http.Server on the same socket.
	addr := f.srv.Addr()
	_, port, _ = net.SplitHostPort(addr)
	if err := f.srv.Configure(parseConf(t, "http.conf", testHTTPConf+"bindport="+port+"\nsession_keep_alive=0\n"), parseConf(t, "ari.conf", "[other]\ntype=user\npassword=pw\n")); err != nil {
		t.Fatal(err)
	}
	if f.srv.Addr() != addr {
		t.Fatal("moved")
	}
	// A new client: the default one may still hold a keep-alive connection of the old
	// http.Server, which answers with keep-alive (the test was flaky for that reason).
	fresh := &http.Client{Transport: &http.Transport{}}
	resp, err := fresh.Get(f.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Fatal("keep-alive not off")
	}

	// Disabled: not listening.
	if err := f.srv.Configure(parseConf(t, "http.conf", "[general]\nenabled=no\n"), nil); err != nil {
		t.Fatal(err)
	}
	if f.srv.Addr() != "" {
		t.Fatal("still listening")
	}
}

func TestSessionLimit(t *testing.T) {
	f := newFixture(t, fixtureOpts{httpConf: testHTTPConf + "sessionlimit = 1\n"})
	// A connection in use (a WebSocket: never evicted) holds the only session.
	ws := f.dial(t, "/api/events", admin)
	f.waitClients(t, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c2, err := net.Dial("tcp", f.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c2.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c2.Read(make([]byte, 1))
		c2.Close()
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break // closed at once: over the limit
		}
		if time.Now().After(deadline) {
			t.Fatal("second connection not refused")
		}
	}
	ws.CloseNow()
	// After the first goes away a new one is served.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		resp, err := client.Get(f.base + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not served after the first connection closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A connection that only waits (no request yet) makes room for a new one.
	idle, err := net.Dial("tcp", f.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond)
	resp, err := client.Get(f.base + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with an idle connection at the limit: %v %v", resp, err)
	}
	resp.Body.Close()
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the idle connection was not evicted: %v", err)
	}
}

func writeCert(t *testing.T) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestTLS(t *testing.T) {
	cert, key := writeCert(t)
	f := newFixture(t, fixtureOpts{httpConf: testHTTPConf + "tlsenable=yes\ntlsbindaddr=127.0.0.1:0\ntlscertfile=" + cert + "\ntlsprivatekey=" + key + "\n"})
	if f.srv.TLSAddr() == "" {
		t.Fatal("no TLS listener")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("GET", "https://"+f.srv.TLSAddr()+"/ari/deviceStates", nil)
	req.SetBasicAuth("admin", "secret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("https: %d", resp.StatusCode)
	}
}
