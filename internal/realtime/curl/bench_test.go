package curl_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime/curl"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

// benchService is curltest's service over SQLite with 1,000 sippeers rows.
func benchService(b *testing.B) string {
	url, _, raw := service(b)
	for _, q := range sqlite.SchemaStatements("sippeers") {
		if _, err := raw.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	tx, _ := raw.Begin()
	for i := range 1000 {
		if _, err := tx.Exec("INSERT INTO sippeers (name, secret, host, type, context) VALUES (?, 'pw', 'dynamic', 'friend', 'default')", fmt.Sprintf("peer%04d", i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return url + "/sippeers"
}

// BenchmarkLoad: a Load by name through the driver, against the same POST /single made with
// net/http directly (same keep-alive client settings, body read and split into pairs) in the
// same run.
func BenchmarkLoad(b *testing.B) {
	url := benchService(b)
	ctx := context.Background()
	d := curl.New(realtimetest.Logger(b))
	defer d.Close()
	pleiades := func(i int) {
		if _, err := d.Load(ctx, url, "sippeers", realtimetest.F("name", fmt.Sprintf("peer%04d", i%1000))); err != nil {
			b.Fatal(err)
		}
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer c.CloseIdleConnections()
	direct := func(i int) {
		resp, err := c.Post(url+"/single", "application/x-www-form-urlencoded", strings.NewReader(fmt.Sprintf("name=peer%04d", i%1000)))
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(strings.Split(string(body), "&")) < 3 {
			b.Fatalf("%v %d %q", err, resp.StatusCode, body)
		}
	}
	b.Run("pleiades", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			pleiades(i)
		}
	})
	b.Run("direct", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			direct(i)
		}
	})
	b.Run("paired", func(b *testing.B) { paired(b, pleiades, direct) })
}

// paired alternates the two ways in the same loop so that a shared machine's load changes
// weigh on both alike, and reports each one's mean and their ratio.
func paired(b *testing.B, pleiades, direct func(int)) {
	var tp, td time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		pleiades(i)
		t1 := time.Now()
		direct(i)
		tp += t1.Sub(t0)
		td += time.Since(t1)
	}
	b.ReportMetric(float64(tp.Nanoseconds())/float64(b.N), "pleiades-ns/op")
	b.ReportMetric(float64(td.Nanoseconds())/float64(b.N), "direct-ns/op")
	b.ReportMetric(float64(tp)/float64(td), "ratio")
}
