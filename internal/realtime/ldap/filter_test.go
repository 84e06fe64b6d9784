package ldap

import (
	"errors"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func testSchema() *schema {
	return newSchema(Table{Name: "sip", Filter: "(objectClass=AsteriskSIPUser)", Columns: []Column{
		{"name", "cn"}, {"secret", "AstAccountSecret"}, {"port", "AstAccountPort"}, {"fullcontact", "AstAccountFullContact"}, {"fullcontact", "gecos"},
	}}, Table{Filter: "(!(pwdAccountLockedTime=*))", Columns: []Column{{"context", "AstAccountContext"}, {"name", "uid"}}})
}

// TestFilter pins the filters sent: values escaped, never pasted; operators the directory can
// evaluate as filters, the others as checks; the section's mapping wins over [_general]'s.
func TestFilter(t *testing.T) {
	s := testSchema()
	for _, c := range []struct {
		fields []realtime.Field
		want   string
		checks int
	}{
		{[]realtime.Field{{Name: "name", Value: "alice"}}, "(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(cn=alice))", 0},
		{[]realtime.Field{{Name: "name", Value: "*)(uid=*"}}, `(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(cn=\2a\29\28uid=\2a))`, 0},
		{[]realtime.Field{{Name: "name", Value: `a\b;c`}}, `(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(cn=a\5cb^3Bc))`, 0},
		{[]realtime.Field{{Name: "name LIKE", Value: `al%`}, {Name: "context", Value: "x"}}, "(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(cn=al*)(AstAccountContext=x))", 1},
		{[]realtime.Field{{Name: "name LIKE", Value: `%*)(x%`}}, `(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(cn=*\2a\29\28x*))`, 1},
		{[]realtime.Field{{Name: "name LIKE", Value: `\_a_b%%`}}, `(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(cn=_a*b*))`, 1},
		{[]realtime.Field{{Name: "name LIKE", Value: `plain`}}, `(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(cn=plain))`, 1},
		{[]realtime.Field{{Name: "name LIKE", Value: `%`}}, `(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(cn=*))`, 1},
		{[]realtime.Field{{Name: "port >", Value: "5060"}}, "(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(AstAccountPort=*))", 1},
		{[]realtime.Field{{Name: "port !=", Value: "5060"}, {Name: "secret", Value: ""}}, "(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(!(AstAccountPort=5060))(!(AstAccountSecret=*)))", 0},
		{[]realtime.Field{{Name: "fullcontact", Value: "sip:x"}}, "(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*))(AstAccountFullContact=sip:x))", 0},
	} {
		got, checks, err := s.filter(c.fields, true)
		if err != nil || got != c.want || len(checks) != c.checks {
			t.Errorf("filter(%v) = %s, %d checks, %v\n want %s, %d checks", c.fields, got, len(checks), err, c.want, c.checks)
			continue
		}
		if _, err := goldap.CompileFilter(got); err != nil {
			t.Errorf("filter(%v) = %s does not compile: %v", c.fields, got, err)
		}
	}
	if _, _, err := s.filter([]realtime.Field{{Name: "uid", Value: "x"}}, true); !errors.Is(err, realtime.ErrUnknownField) {
		t.Errorf("unmapped column: %v", err)
	}
	if _, _, err := s.filter([]realtime.Field{{Name: "port >", Value: "1"}}, false); err == nil {
		t.Error("operator where none is allowed: no error")
	}
}

func TestLike(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{
		{"lk_a", `lk\_a`, true}, {"lkXa", `lk\_a`, false}, {"lkXa", "lk_a", true}, {"LKXA", "lk_a", true},
		{"lk%b", `lk\%b`, true}, {"lkYb", `lk\%b`, false}, {"anything", "%", true}, {"", "%", true}, {"", "_", false},
		{"Zoë", "Zo_", true}, {"abcabc", "%bc%bc", true}, {"abc", "a%c%", true}, {"ab", "a%c", false},
	} {
		if got := like(c.s, c.p); got != c.want {
			t.Errorf("like(%q, %q) = %v", c.s, c.p, got)
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{{"9", "10", -1}, {"10", "9", 1}, {"5060", "5060.0", 0}, {"b", "a", 1}, {"9", "a", -1}} {
		if got := compare(c.a, c.b); got != c.want {
			t.Errorf("compare(%q, %q) = %d", c.a, c.b, got)
		}
	}
}

// FuzzFilter: whatever the value, with whatever operator, the filter compiles and holds one
// condition per field besides the two additionalFilters: a value never adds or closes one.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"*)(uid=*", `\2a`, "a)(|(cn=*", "%_\\", "\x00", "Zoë"} {
		f.Add(s, uint8(0))
	}
	ops := []string{"", " LIKE", " !=", " NOT LIKE", " >="}
	s := testSchema()
	f.Fuzz(func(t *testing.T, v string, op uint8) {
		o := ops[int(op)%len(ops)]
		flt, _, err := s.filter([]realtime.Field{{Name: "name" + o, Value: v}, {Name: "context", Value: v}}, true)
		if err != nil {
			t.Fatal(err)
		}
		p, err := goldap.CompileFilter(flt)
		if err != nil {
			t.Fatalf("%q: %s: %v", v, flt, err)
		}
		want := 4
		if o == " NOT LIKE" {
			want = 3
		}
		if len(p.Children) != want {
			t.Fatalf("%q %s: %d conditions in %s", v, o, len(p.Children), flt)
		}
	})
}

func TestUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second:                    "5 seconds",
		61 * time.Second:                   "1 minutes, 1 seconds",
		3600 * time.Second:                 "1 hours, 0 minutes, 0 seconds",
		(86400 + 3) * time.Second:          "1 days, 0 hours, 0 minutes, 3 seconds",
		(2*31536000 + 86400) * time.Second: "2 years, 1 days, 0 hours, 0 minutes, 0 seconds",
	} {
		if got := uptime(d); got != want {
			t.Errorf("uptime(%s) = %q, want %q", d, got, want)
		}
	}
}
