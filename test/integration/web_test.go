package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/test/webdriver"
)

const ariConf = "[general]\nenabled = yes\n\n[admin]\ntype = user\npassword = secret\n\n[viewer]\ntype = user\npassword = look\nread_only = yes\n"

// startWebCluster starts two clustered servers with the HTTP server on; it returns them and
// their HTTP base URLs.
func startWebCluster(t *testing.T) ([]*Node, []string) {
	t.Helper()
	routes := freePorts(t, 2)
	httpPorts := freePorts(t, 2)
	var nodes []*Node
	var bases []string
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:05:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf":    clusterConf(i, routes, ""),
			"http.conf":       fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", httpPorts[i]),
			"ari.conf":        ariConf,
		})
		nd.Start()
		nodes = append(nodes, nd)
		bases = append(bases, fmt.Sprintf("http://127.0.0.1:%d", httpPorts[i]))
	}
	for _, nd := range nodes {
		waitMembers(t, nd, 2)
	}
	return nodes, bases
}

func request(t *testing.T, method, url, user, pass string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWebAPIAcrossTheCluster(t *testing.T) {
	_, base := startWebCluster(t)
	// Authentication and authorisation.
	if code, _ := request(t, "GET", base[0]+"/ari/deviceStates", "", ""); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	if code, _ := request(t, "PUT", base[0]+"/ari/deviceStates/Custom:x?deviceState=INUSE", "viewer", "look"); code != 403 {
		t.Fatalf("read-only PUT: %d", code)
	}
	if code, body := request(t, "PUT", base[0]+"/ari/deviceStates/Custom:x?deviceState=", "admin", "secret"); code != 400 || !strings.Contains(body, "message") {
		t.Fatalf("bad parameter: %d %s", code, body)
	}
	// A change through server 1's API is the cluster-wide state on server 2.
	if code, body := request(t, "PUT", base[0]+"/ari/deviceStates/Custom:mystate?deviceState=INUSE", "admin", "secret"); code != 204 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	eventually(t, 2*time.Second, func() string {
		code, body := request(t, "GET", base[1]+"/api/hints", "viewer", "look")
		var hints []struct {
			Exten, Context string
			StateText      string `json:"state_text"`
		}
		json.Unmarshal([]byte(body), &hints)
		for _, h := range hints {
			if h.Exten == "1234" && h.StateText == "InUse" {
				return ""
			}
		}
		return fmt.Sprintf("server 2 hints: %d %s", code, body)
	})
	code, body := request(t, "GET", base[1]+"/api/cluster/members", "viewer", "look")
	if code != 200 || !strings.Contains(body, "node1") || !strings.Contains(body, "node2") {
		t.Fatalf("members: %d %s", code, body)
	}
	// Metrics parse with Prometheus' own text parser.
	families := metricFamilies(t, base[1]+"/metrics")
	var names []string
	for name := range families {
		names = append(names, name)
	}
	joined := strings.Join(names, " ")
	for _, want := range []string{"cluster_members", "propagation"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no metric family with %q in %s", want, joined)
		}
	}
}

// TestBrowserBoardFollowsTheOtherServer loads server 2's BLF board in headless Chromium,
// changes Custom:mystate through server 1's API, and sees the lamp change.
func TestBrowserBoardFollowsTheOtherServer(t *testing.T) {
	d := webdriver.Start(t)
	_, base := startWebCluster(t)
	d.Call("POST", "/session/"+d.Session+"/url", map[string]any{"url": base[1] + "/board/?api_key=viewer:look"})
	lamp := `const l = document.querySelector('[data-key="1234@devstate_test"]'); return l ? l.dataset.state : "";`
	d.WaitFor("initial lamp", lamp, "Idle")
	d.WaitFor("event stream", `return document.getElementById("conn").dataset.conn;`, "live")
	d.WaitFor("members", `return String(document.querySelectorAll(".member").length);`, "2")
	if code, body := request(t, "PUT", base[0]+"/ari/deviceStates/Custom:mystate?deviceState=INUSE", "admin", "secret"); code != 204 {
		t.Fatalf("PUT on server 1: %d %s", code, body)
	}
	d.WaitFor("lamp on server 2 after a change on server 1", lamp, "InUse")
	time.Sleep(400 * time.Millisecond)
	d.Screenshot(filepath.Join("..", "artifacts", "blf-board-cluster.png"))
	request(t, "PUT", base[0]+"/ari/deviceStates/Custom:mystate?deviceState=NOT_INUSE", "admin", "secret")
	d.WaitFor("lamp back to idle", lamp, "Idle")
}
