package curl_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/curl"
	"github.com/pleiades-pbx/pleiades/internal/realtime/curl/curltest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/sqlite"
)

// service starts curltest's web service over a fresh SQLite database and returns its URL, the
// backend driver and a raw handle on the database.
func service(t testing.TB) (string, *sqlite.Driver, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rt.sqlite3")
	back := sqlite.New(realtimetest.Logger(t))
	if err := back.Configure(context.Background(), realtimetest.Conf("res_config_sqlite3.conf", "[asterisk]\ndbfile => "+path+"\n")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	srv := httptest.NewServer(&curltest.Handler{Backend: back, DB: "asterisk"})
	t.Cleanup(srv.Close)
	return srv.URL, back, raw
}

// perTable routes each table to its own URL under base: one curl mapping is one table, while
// the conformance suite addresses four tables through one database name.
type perTable struct {
	*curl.Driver
	base string
}

func (p perTable) u(table string) string { return p.base + "/" + table }
func (p perTable) Load(ctx context.Context, _, table string, f []realtime.Field) (realtime.Row, error) {
	return p.Driver.Load(ctx, p.u(table), table, f)
}
func (p perTable) LoadMulti(ctx context.Context, _, table string, f []realtime.Field) ([]realtime.Row, error) {
	return p.Driver.LoadMulti(ctx, p.u(table), table, f)
}
func (p perTable) Update(ctx context.Context, _, table, k, v string, f []realtime.Field) (int64, error) {
	return p.Driver.Update(ctx, p.u(table), table, k, v, f)
}
func (p perTable) Update2(ctx context.Context, _, table string, l, u []realtime.Field) (int64, error) {
	return p.Driver.Update2(ctx, p.u(table), table, l, u)
}
func (p perTable) Store(ctx context.Context, _, table string, f []realtime.Field) (int64, error) {
	return p.Driver.Store(ctx, p.u(table), table, f)
}
func (p perTable) Destroy(ctx context.Context, _, table, k, v string, f []realtime.Field) (int64, error) {
	return p.Driver.Destroy(ctx, p.u(table), table, k, v, f)
}
func (p perTable) Require(ctx context.Context, _, table string, r []realtime.Requirement) error {
	return p.Driver.Require(ctx, p.u(table), table, r)
}
func (p perTable) StaticLoad(ctx context.Context, _, table, file string) ([]realtime.StaticRow, error) {
	return p.Driver.StaticLoad(ctx, p.u(table), table, file)
}

func TestConformance(t *testing.T) {
	url, back, raw := service(t)
	d := curl.New(realtimetest.Logger(t))
	t.Cleanup(func() { d.Close() })
	realtimetest.Run(t, realtimetest.Backend{
		Driver:  perTable{d, url},
		DB:      "ignored",
		Dialect: "sqlite",
		Exec: func(t testing.TB, q string) {
			t.Helper()
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			// The web service caches column metadata as any SQL driver does.
			for _, tb := range realtimetest.Tables {
				back.Unload(context.Background(), "asterisk", tb)
			}
		},
		Skip: map[string]string{
			"UnknownField": "res_config_curl's protocol carries no column list: which names exist is the web service's " +
				"business (it answers HTTP 400 here); the driver refuses only names that are not plain words (TestRefusedBeforeSending)",
			"Require": "the service answers /require with a number only, and a lookup of a column it lacks is its own error " +
				"(HTTP 400), not ErrUnknownField; TestRequire checks what the protocol can say",
		},
	})
}

func TestRequire(t *testing.T) {
	url, _, raw := service(t)
	if _, err := raw.Exec("CREATE TABLE t (name VARCHAR(40), port INTEGER)"); err != nil {
		t.Fatal(err)
	}
	d := curl.New(realtimetest.Logger(t))
	ctx := context.Background()
	if err := d.Require(ctx, url+"/t", "t", []realtime.Requirement{{Name: "name", Type: realtime.TypeChar, Size: 10}, {Name: "port", Type: realtime.TypeInteger}}); err != nil {
		t.Errorf("Require(existing) = %v", err)
	}
	err := d.Require(ctx, url+"/t", "t", []realtime.Requirement{{Name: "rt_required", Type: realtime.TypeChar, Size: 10}})
	if !errors.Is(err, realtime.ErrUnknownField) || !strings.Contains(err.Error(), "rt_required") {
		t.Errorf("Require(missing) = %v, want ErrUnknownField naming rt_required", err)
	}
}

// recorder answers every request with a fixed reply and records what it got.
type recorder struct {
	status int
	reply  string
	last   atomic.Pointer[string]
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	s := req.Method + " " + req.URL.RequestURI() + " " + req.Header.Get("Content-Type") + " " + string(b)
	r.last.Store(&s)
	if r.status != 0 {
		w.WriteHeader(r.status)
	}
	io.WriteString(w, r.reply)
}

func (r *recorder) got() string {
	if p := r.last.Load(); p != nil {
		return *p
	}
	return ""
}

// TestWireFormat pins the requests to res_config_curl's: paths, POST form encoding, fields in
// the caller's order, the key of update in the query string.
func TestWireFormat(t *testing.T) {
	rec := &recorder{reply: "1\n"}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	d := curl.New(realtimetest.Logger(t))
	ctx := context.Background()
	const form = "application/x-www-form-urlencoded"
	F := realtimetest.F
	for _, c := range []struct {
		call func() error
		want string
	}{
		{func() error {
			_, err := d.Store(ctx, srv.URL+"/", "x", F("name", "a b", "secret", "p&w=d;%"))
			return err
		},
			"POST /store " + form + " name=a%20b&secret=p%26w%3Dd%3B%25"},
		{func() error {
			_, err := d.Update(ctx, srv.URL, "x", "name", "a/b", F("ipaddr", "192.0.2.1", "port", "5060"))
			return err
		},
			"POST /update?name=a%2Fb " + form + " ipaddr=192.0.2.1&port=5060"},
		{func() error {
			_, err := d.Update2(ctx, srv.URL, "x", F("context", "c", "port >=", "2"), F("callerid", `"A" <1>`))
			return err
		}, "POST /update2?context=c&port%20%3E%3D=2 " + form + " callerid=%22A%22%20%3C1%3E"},
		{func() error { _, err := d.Destroy(ctx, srv.URL, "x", "name", "bob", F("context", "d")); return err },
			"POST /destroy " + form + " name=bob&context=d"},
	} {
		if err := c.call(); err != nil {
			t.Errorf("%s: %v", c.want, err)
		}
		if got := rec.got(); got != c.want {
			t.Errorf("request\n got %s\nwant %s", got, c.want)
		}
	}
	rec.reply = "name=bob&secret=x%3By&port=&context=from+internal\r\nname=ignored\n"
	r, err := d.Load(ctx, srv.URL, "x", F("name LIKE", "b%", "context", "Zoë"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "POST /single " + form + " name%20LIKE=b%25&context=Zo%C3%AB"; rec.got() != want {
		t.Errorf("request\n got %s\nwant %s", rec.got(), want)
	}
	if fmt.Sprint(r) != "[{name bob} {secret x;y} {context from internal}]" {
		t.Errorf("row = %v", r)
	}
	rows, err := d.LoadMulti(ctx, srv.URL, "x", F("name", "a"))
	if err != nil || len(rows) != 2 {
		t.Fatalf("LoadMulti = %v, %v", rows, err)
	}
	rec.reply = "cat_metric=0&category=general&var_name=a&var_val=1\ncat_metric=2&category=first&var_name=x&var_val=\n"
	st, err := d.StaticLoad(ctx, srv.URL, "x", "my file.conf")
	if err != nil {
		t.Fatal(err)
	}
	if want := "GET /static?file=my%20file.conf  "; rec.got() != want {
		t.Errorf("request %q, want %q", rec.got(), want)
	}
	if len(st) != 2 || st[0].Category != "first" || st[1].Value != "1" {
		t.Errorf("static rows = %+v", st)
	}
	rec.reply = "0"
	if err := d.Require(ctx, srv.URL, "x", []realtime.Requirement{{Name: "name", Type: realtime.TypeChar, Size: 80}, {Name: "port", Type: realtime.TypeUnsignedInteger}}); err != nil {
		t.Error(err)
	}
	if want := "POST /require " + form + " name=char%3A80&port=uinteger4%3A0"; rec.got() != want {
		t.Errorf("request\n got %s\nwant %s", rec.got(), want)
	}
	rec.reply = "\n"
	if _, err := d.Load(ctx, srv.URL, "x", F("name", "nobody")); !errors.Is(err, realtime.ErrNotFound) {
		t.Errorf("empty answer: %v, want ErrNotFound", err)
	}
}

// TestBadAnswers: garbage, HTML and 5xx are errors, never rows or "no entry"; a 5xx or an
// unreachable service is ErrUnavailable (fail over), other statuses and garbage are not.
func TestBadAnswers(t *testing.T) {
	d := curl.New(realtimetest.Logger(t))
	ctx := context.Background()
	F := realtimetest.F
	for _, c := range []struct {
		status      int
		reply       string
		unavailable bool
	}{
		{500, "name=bob", true},
		{503, "", true},
		{404, "not here", false},
		{200, "<html><body>Oops</body></html>", false},
		{200, "Traceback (most recent call last):", false},
		{200, "name=bob&%zz=1", false},
		{200, "name=bob&a b=1", false},
	} {
		srv := httptest.NewServer(&recorder{status: c.status, reply: c.reply})
		_, err := d.Load(ctx, srv.URL, "x", F("name", "bob"))
		if err == nil || errors.Is(err, realtime.ErrNotFound) || errors.Is(err, realtime.ErrUnavailable) != c.unavailable {
			t.Errorf("%d %q: Load = %v (unavailable %v)", c.status, c.reply, err, c.unavailable)
		}
		for _, reply := range []string{"", "OK", "<html>", "12 rows", "-1"} {
			srv.Config.Handler = &recorder{reply: reply}
			if n, err := d.Store(ctx, srv.URL, "x", F("name", "bob")); err == nil {
				t.Errorf("Store answered %q = %d, nil; want an error", reply, n)
			}
		}
		srv.Close()
	}
	// Nothing listens.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if _, err := d.Load(ctx, "http://"+addr, "x", F("name", "bob")); !errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("refused: %v, want ErrUnavailable", err)
	}
	if _, err := d.Load(ctx, "ftp://example.com", "x", F("name", "bob")); err == nil || errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("ftp URL: %v", err)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	rec := &recorder{reply: "1"}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	d := curl.New(realtimetest.Logger(t))
	ctx := context.Background()
	for _, bad := range []string{`name" = name OR "1`, "port ; DROP", "name ==", "a&b", "#include"} {
		if _, err := d.Load(ctx, srv.URL, "x", realtimetest.F(bad, "1")); err == nil {
			t.Errorf("Load(%q): no error", bad)
		}
	}
	if _, err := d.Store(ctx, srv.URL, "x", realtimetest.F("name LIKE", "1")); err == nil {
		t.Errorf("Store with an operator: no error")
	}
	if rec.got() != "" {
		t.Errorf("something was sent: %s", rec.got())
	}
}

// TestTimeoutFailover: a service that stops answering is a timeout wrapping ErrUnavailable,
// and the engine moves on to the next mapping.
func TestTimeoutFailover(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	url, _, raw := service(t)
	for _, q := range sqlite.SchemaStatements("sippeers") {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec("INSERT INTO sippeers (name, secret) VALUES ('bob', 'fromtwo')"); err != nil {
		t.Fatal(err)
	}
	e := realtime.New(realtimetest.Logger(t))
	d := curl.New(realtimetest.Logger(t))
	e.Register(d)
	ext := realtimetest.Conf("extconfig.conf", "[settings]\nsippeers => curl,"+hang.URL+"/sippeers,sippeers,1\nsippeers => curl,"+url+"/sippeers,sippeers,2\n")
	err := e.Configure(context.Background(), ext, func(string) (*conf.Config, error) {
		return realtimetest.Conf("res_curl.conf", "[globals]\nhttptimeout => 2\n"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Load(context.Background(), "sippeers", realtime.Field{Name: "name", Value: "bob"})
	if err != nil {
		t.Fatalf("Load with priority 1 hanging: %v", err)
	}
	if v, _ := r.Get("secret"); v != "fromtwo" {
		t.Errorf("row %v", r)
	}
	_, err = d.Load(context.Background(), hang.URL+"/sippeers", "sippeers", realtimetest.F("name", "bob"))
	if !errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("hanging service: %v, want ErrUnavailable", err)
	}
	// A cancelled caller is not the service's fault.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err = d.Load(ctx, hang.URL+"/sippeers", "sippeers", realtimetest.F("name", "bob")); err == nil || errors.Is(err, realtime.ErrUnavailable) {
		t.Errorf("cancelled caller: %v", err)
	}
	for _, s := range e.Status() {
		if s.Family == "sippeers" && s.Failovers == 0 {
			t.Errorf("no failover counted: %+v", s)
		}
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(&recorder{reply: "name=bob&secret=tls\n"})
	defer srv.Close()
	d := curl.New(realtimetest.Logger(t))
	ctx := context.Background()
	F := realtimetest.F
	if _, err := d.Load(ctx, srv.URL, "x", F("name", "bob")); err == nil {
		t.Fatal("an unknown CA was trusted")
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Configure(ctx, realtimetest.Conf("res_curl.conf", "[globals]\nCURLOPT(cainfo) => "+ca+"\n")); err != nil {
		t.Fatal(err)
	}
	if r, err := d.Load(ctx, srv.URL, "x", F("name", "bob")); err != nil || fmt.Sprint(r) != "[{name bob} {secret tls}]" {
		t.Errorf("with cainfo: %v, %v", r, err)
	}
	if err := d.Configure(ctx, realtimetest.Conf("res_curl.conf", "[globals]\nssl_verifypeer => no\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load(ctx, srv.URL, "x", F("name", "bob")); err != nil {
		t.Errorf("ssl_verifypeer=no: %v", err)
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		text, err string
		check     func(curl.Settings) bool
	}{
		{"", "", func(s curl.Settings) bool { return s.HTTPTimeout == 10*time.Second && s.VerifyPeer }},
		{"[globals]\nconntimeout => 1.5\nCURLOPT(httptimeout) => 2\nuseragent => x/1\nuserpwd => u:p\n", "",
			func(s curl.Settings) bool {
				return s.ConnTimeout == 1500*time.Millisecond && s.HTTPTimeout == 2*time.Second && s.UserAgent == "x/1" && s.UserPwd == "u:p"
			}},
		{"[general]\nssl_verifypeer => no\nmaxconns => 4\n", "", func(s curl.Settings) bool { return !s.VerifyPeer && s.MaxConns == 4 }},
		{"[globals]\nhttptimeout => soon\nssl_verifypeer => maybe\n", "res_curl.conf:2: httptimeout", nil},
		{"[globals]\nhttptimeout => 1\nssl_verifypeer => maybe\n", "res_curl.conf:3: ssl_verifypeer", nil},
		{"[globals]\ncainfo => /nonexistent.pem\n", "res_curl.conf:2: cainfo", nil},
		{"[globals]\nuserpwd => nocolon\n", "userpwd", nil},
	} {
		s, _, err := curl.ParseConfig(realtimetest.Conf("res_curl.conf", c.text))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want %q", c.text, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.text, err)
		case c.check != nil && !c.check(s):
			t.Errorf("%q: settings %+v", c.text, s)
		}
	}
	_, warn, _ := curl.ParseConfig(realtimetest.Conf("res_curl.conf", "[globals]\nproxy_typo => x\n"))
	if len(warn) != 1 || !strings.Contains(warn[0], "res_curl.conf:2") {
		t.Errorf("warnings = %v", warn)
	}
}

func TestCodec(t *testing.T) {
	for _, s := range []string{"", "plain", "a b&c=d;e^f%g+h", "Zoë 日本", "\x00\xff\n\r"} {
		got, err := curl.Decode(curl.Encode(s))
		if err != nil || got != s {
			t.Errorf("Decode(Encode(%q)) = %q, %v", s, got, err)
		}
	}
	if curl.Encode("a-b.c_d~e f") != "a-b.c_d~e%20f" {
		t.Errorf("Encode = %q", curl.Encode("a-b.c_d~e f"))
	}
	for _, c := range []struct {
		in   string
		n    int64
		fail bool
	}{{"1", 1, false}, {" \n 3\n", 3, false}, {"0", 0, false}, {"-1", 0, true}, {"", 0, true}, {"x", 0, true}, {"2 rows", 0, true}} {
		n, err := curl.ParseCount(c.in)
		if n != c.n || (err != nil) != c.fail {
			t.Errorf("ParseCount(%q) = %d, %v", c.in, n, err)
		}
	}
}

// TestLoadedWhenMapped: "core show config mappings" lists the curl engine while a mapping uses
// it (res_config_curl needs no file), and not otherwise.
func TestLoadedWhenMapped(t *testing.T) {
	e := realtime.New(realtimetest.Logger(t))
	e.Register(curl.New(realtimetest.Logger(t)))
	none := func(string) (*conf.Config, error) { return nil, nil }
	if err := e.Configure(context.Background(), nil, none); err != nil {
		t.Fatal(err)
	}
	if e.Loaded("curl") {
		t.Error("curl loaded without a mapping or res_curl.conf")
	}
	ext := realtimetest.Conf("extconfig.conf", "[settings]\nsippeers => curl,http://127.0.0.1:1/sippeers\n")
	if err := e.Configure(context.Background(), ext, none); err != nil {
		t.Fatal(err)
	}
	if !e.Loaded("curl") {
		t.Error("curl not loaded with a mapping")
	}
}

// TestEngineOnBadService: through the engine, a 500 fails over to the next mapping; garbage is
// the service's answer and is returned as an error (never rows, never "no entry").
func TestEngineOnBadService(t *testing.T) {
	url, _, raw := service(t)
	for _, q := range sqlite.SchemaStatements("sippeers") {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec("INSERT INTO sippeers (name, secret) VALUES ('bob', 'fromtwo')"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		status int
		reply  string
		ok     bool
	}{{500, "Internal Server Error", true}, {502, "", true}, {200, "<html><body>login</body></html>", false}} {
		bad := httptest.NewServer(&recorder{status: c.status, reply: c.reply})
		e := realtime.New(realtimetest.Logger(t))
		e.Register(curl.New(realtimetest.Logger(t)))
		ext := realtimetest.Conf("extconfig.conf", "[settings]\nsippeers => curl,"+bad.URL+"/sippeers,sippeers,1\nsippeers => curl,"+url+"/sippeers,sippeers,2\n")
		if err := e.Configure(context.Background(), ext, nil); err != nil {
			t.Fatal(err)
		}
		r, err := e.Load(context.Background(), "sippeers", realtime.Field{Name: "name", Value: "bob"})
		if c.ok {
			if v, _ := r.Get("secret"); err != nil || v != "fromtwo" {
				t.Errorf("%d: %v, %v; want priority 2's row", c.status, r, err)
			}
		} else if !errors.Is(err, curl.ErrMalformed) || errors.Is(err, realtime.ErrNotFound) {
			t.Errorf("%d %q: %v, %v; want ErrMalformed", c.status, c.reply, r, err)
		}
		bad.Close()
	}
}

func TestStatus(t *testing.T) {
	srv := httptest.NewServer(&recorder{status: 500})
	defer srv.Close()
	d := curl.New(realtimetest.Logger(t))
	r := cli.NewRegistry()
	r.MustRegister(d.Commands()...)
	var out bytes.Buffer
	if err := r.Run(context.Background(), "realtime show curl status", &out, nil); err != nil ||
		out.String() != "conntimeout 5s, httptimeout 10s, ssl_verifypeer yes, keep-alive connections per host 16\nNo URL used yet.\n" {
		t.Errorf("before: %v\n%s", err, out.String())
	}
	d.Load(context.Background(), srv.URL+"/sippeers", "sippeers", realtimetest.F("name", "x"))
	out.Reset()
	r.Run(context.Background(), "realtime show curl status", &out, nil)
	want := regexp.MustCompile(regexp.QuoteMeta(srv.URL+"/sippeers") + `: 1 requests, 1 errors \(1 unreachable\), mean \S+\n  last error \S+ \S+: curl: single .*HTTP 500`)
	if !want.MatchString(out.String()) {
		t.Errorf("after a 500:\n%s", out.String())
	}
}
