package integration

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var updateMetrics = flag.Bool("update-metrics", false, "rewrite testdata/metrics_families.txt from the running binary")

// metricFamilies returns one line per family of a /metrics scrape: name, type, the sorted
// label names of its series and its help text.
func metricFamilies(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	out := map[string]string{}
	for name, f := range fams {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		var ls []string
		for l := range labels {
			ls = append(ls, l)
		}
		slices.Sort(ls)
		out[name] = fmt.Sprintf("%s %s {%s} %s", name, strings.ToLower(dto.MetricType_name[int32(f.GetType())]), strings.Join(ls, ","), f.GetHelp())
	}
	return out
}

// TestMetricsFamilies pins every Pleiades metric family the real binary exposes (name, type,
// label names, help) after some activity on a cluster of two: the collectors live in their
// packages, and moving them must not change what a scraper sees. A family may be added; none
// may change or disappear.
func TestMetricsFamilies(t *testing.T) {
	routes := freePorts(t, 2)
	httpPorts := freePorts(t, 2)
	var bases []string
	var nodes []*Node
	for i := range 2 {
		nd := NewNode(t, fmt.Sprintf("entityid = 02:00:00:00:06:%02x\nsystemname = node%d", i+1, i+1), map[string]string{
			"extensions.conf": seedDialplan,
			"cluster.conf":    clusterConf(i, routes, ""),
			"http.conf":       fmt.Sprintf("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %d\n", httpPorts[i]),
			"ari.conf":        ariConf,
			"extconfig.conf":  "[settings]\nsippeers => sqlite3,db,sippeers\n",
		})
		nd.WriteFile("res_config_sqlite3.conf", fmt.Sprintf("[db]\ndbfile => %s\n", filepath.Join(nd.Dir, "rt.sqlite3")))
		nd.Start()
		nodes = append(nodes, nd)
		bases = append(bases, fmt.Sprintf("http://127.0.0.1:%d", httpPorts[i]))
	}
	for _, nd := range nodes {
		waitMembers(t, nd, 2)
	}
	// Activity that makes the labelled families appear: a device state and a mailbox shared
	// across the cluster, a realtime lookup, a watcher of a hint.
	if code, body := request(t, "PUT", bases[0]+"/ari/deviceStates/Custom:mystate?deviceState=INUSE", "admin", "secret"); code != 204 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	nodes[0].MustRX("mwi update 100@default 2 1")
	nodes[1].RX("realtime load sippeers name alice")
	hintState(t, nodes[1], "InUse", 5*time.Second)
	eventually(t, 5*time.Second, func() string {
		if out := nodes[1].MustRX("mwi show mailboxes"); !strings.Contains(out, "100@default") {
			return "mailbox not on server 2:\n" + out
		}
		return ""
	})

	got := metricFamilies(t, bases[1]+"/metrics")
	golden := filepath.Join("testdata", "metrics_families.txt")
	if *updateMetrics {
		var lines []string
		for _, l := range got {
			lines = append(lines, l)
		}
		slices.Sort(lines)
		if err := os.WriteFile(golden, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		name, _, _ := strings.Cut(line, " ")
		if got[name] != line {
			t.Errorf("metric family changed:\nwant %s\ngot  %s", line, got[name])
		}
	}
}
