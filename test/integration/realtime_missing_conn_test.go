package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// A mapping whose driver connection does not exist is a load error naming extconfig.conf:line
// (issue 13 §2.4: it used to fail every lookup silently).
func TestRealtimeMappingToMissingConnectionFailsStart(t *testing.T) {
	for name, tc := range map[string]struct{ ext, want string }{
		"odbc without res_odbc.conf": {"[settings]\nsippeers => odbc,asterisk,sippeers\n",
			"extconfig.conf:2: sippeers => odbc,asterisk,sippeers: realtime: unknown database: odbc has no connection [asterisk] in res_odbc.conf (no such file)"},
		"pgsql without res_pgsql.conf": {"[settings]\nsippeers => pgsql,asterisk,sippeers\n",
			"extconfig.conf:2: sippeers => pgsql,asterisk,sippeers: realtime: unknown database: pgsql has no connection [asterisk] in res_pgsql.conf (no such file)"},
		"mysql without the section": {"[settings]\n\nqueues => mysql,asterisk\n",
			"extconfig.conf:3: queues => mysql,asterisk: realtime: unknown database: mysql has no connection [asterisk] in res_config_mysql.conf (no such file)"},
	} {
		t.Run(name, func(t *testing.T) {
			n := NewNode(t, "entityid = 02:aa:bb:cc:dd:31", map[string]string{"extconfig.conf": tc.ext})
			out, code := runBinary(t, "", "-f", "-C", n.Conf)
			if code == 0 {
				t.Fatalf("started with %q", tc.ext)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, out)
			}
		})
	}
}

func TestRealtimeReloadToMissingConnectionKeepsMappings(t *testing.T) {
	n := NewNode(t, "entityid = 02:aa:bb:cc:dd:32", map[string]string{
		"extconfig.conf":          "[settings]\nvoicemail => sqlite3,pleiades\n",
		"res_config_sqlite3.conf": "[pleiades]\ndbfile => " + filepath.Join(t.TempDir(), "rt.sqlite3") + "\n",
	})
	n.Start()
	n.WriteFile("extconfig.conf", "[settings]\nvoicemail => sqlite3,pleiades\nsippeers => pgsql,asterisk,sippeers\n")
	out, code := n.RX("module reload extconfig")
	if code == 0 || !strings.Contains(out, "extconfig.conf:3: sippeers => pgsql,asterisk,sippeers: realtime: unknown database: pgsql has no connection [asterisk] in res_pgsql.conf") {
		t.Fatalf("reload to a missing connection: %d %q", code, out)
	}
	out = n.MustRX("core show config mappings")
	if !strings.Contains(out, "voicemail (db=pleiades") || strings.Contains(out, "sippeers") {
		t.Fatalf("mappings after the failed reload:\n%s", out)
	}
}
