// Package webdriver drives Debian's headless Chromium through chromedriver (W3C WebDriver over
// HTTP, no client library) for the browser tests of the BLF board. Start skips the test when
// either program is missing, unless CI=true (then it fails: CI installs chromium and
// chromium-driver).
package webdriver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

// The programs used.
const (
	ChromiumPath     = "/usr/bin/chromium"
	ChromedriverPath = "/usr/bin/chromedriver"
)

// Driver is the few W3C WebDriver calls the test needs.
type Driver struct {
	t       *testing.T
	base    string // http://127.0.0.1:port
	Session string
}

func (d *Driver) Call(method, path string, body any) json.RawMessage {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
		d.t.Fatalf("webdriver %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return out.Value
}

func (d *Driver) Exec(script string, args ...any) json.RawMessage {
	if args == nil {
		args = []any{}
	}
	return d.Call("POST", "/session/"+d.Session+"/execute/sync", map[string]any{"script": script, "args": args})
}

// WaitFor polls script (returning a string) until it returns want.
func (d *Driver) WaitFor(what, script, want string) {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		json.Unmarshal(d.Exec(script), &got)
		if got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("%s: got %q, want %q", what, got, want)
}

func (d *Driver) Screenshot(path string) {
	d.t.Helper()
	var b64 string
	json.Unmarshal(d.Call("GET", "/session/"+d.Session+"/screenshot", nil), &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		d.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		d.t.Fatal(err)
	}
	d.t.Logf("screenshot: %s", path)
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs chromedriver and opens a headless Chromium session.
func Start(t *testing.T) *Driver {
	for _, p := range []string{ChromiumPath, ChromedriverPath} {
		if _, err := os.Stat(p); err != nil {
			testenv.Unavailable(t, "%s not installed (apt-get install -y chromium chromium-driver)", p)
		}
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, ChromedriverPath, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	d := &Driver{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(d.base + "/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--window-size=1200,900"}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	raw := d.Call("POST", "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":        "chrome",
		"goog:chromeOptions": map[string]any{"binary": ChromiumPath, "args": args},
	}}})
	if err := json.Unmarshal(raw, &sess); err != nil || sess.SessionID == "" {
		t.Fatalf("new session: %s", raw)
	}
	d.Session = sess.SessionID
	t.Cleanup(func() {
		req, _ := http.NewRequest("DELETE", d.base+"/session/"+d.Session, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	return d
}
