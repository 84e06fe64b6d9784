package ldap_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/internal/realtime/ldap/ldaptest"
	"github.com/pleiades-pbx/pleiades/internal/realtime/realtimetest"
)

// BenchmarkLoad: a Load by name through the driver (1,000 SIP friends in slapd), against the
// same search (same base, filter and attributes) made with go-ldap on one bound connection in
// the same run.
func BenchmarkLoad(b *testing.B) {
	srv := ldaptest.Start(b)
	base := srv.AddOU(b, "bench")
	d := newDriver(b, general(srv.URL, base, "")+tables)
	ctx := context.Background()
	adm := srv.Admin(b)
	defer adm.Close()
	for i := range 1000 {
		add := goldap.NewAddRequest(fmt.Sprintf("cn=peer%04d,%s", i, base), nil)
		add.Attribute("objectClass", []string{"device", "AsteriskSIPUser"})
		add.Attribute("cn", []string{fmt.Sprintf("peer%04d", i)})
		add.Attribute("AstAccountSecret", []string{"pw"})
		add.Attribute("AstAccountHost", []string{"dynamic"})
		add.Attribute("AstAccountContext", []string{"default"})
		if err := adm.Add(add); err != nil {
			b.Fatal(err)
		}
	}
	attrs := []string{"entryUUID", "cn", "AstAccountPort", "AstAccountHost", "AstAccountType", "AstAccountContext",
		"AstAccountSecret", "AstAccountIPAddress", "AstAccountFullContact", "AstAccountExpirationTimestamp",
		"AstAccountCallerID", "AstAccountUserAgent", "AstAccountSetVar", "description", "AstAccountAllowedCodec",
		"AstAccountRealmedPassword"}
	pleiades := func(i int) {
		if _, err := d.Load(ctx, base, "sippeers", realtimetest.F("name", fmt.Sprintf("peer%04d", i%1000))); err != nil {
			b.Fatal(err)
		}
	}
	direct := func(i int) {
		flt := "(&(objectClass=AsteriskSIPUser)(cn=" + goldap.EscapeFilter(fmt.Sprintf("peer%04d", i%1000)) + "))"
		res, err := adm.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 5, false, flt, attrs, nil))
		if err != nil || len(res.Entries) != 1 {
			b.Fatal(err)
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
	b.Run("paired", func(b *testing.B) {
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
	})
}
