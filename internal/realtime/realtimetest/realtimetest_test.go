package realtimetest

import (
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/test/testenv"
)

func TestStatements(t *testing.T) {
	dir := testenv.SharedPath(t, "asterisk-schema")
	for _, c := range []struct {
		dialect string
		want    []string
	}{
		{"postgres", []string{"CREATE TYPE type_values AS ENUM", "CREATE TYPE yes_no_values", "CREATE TABLE sippeers (", "CREATE TABLE voicemail (", "CREATE TABLE extensions (", "CREATE TABLE ast_config"}},
		{"mysql", []string{"CREATE TABLE sippeers (", "type ENUM('friend','user','peer')", "CREATE TABLE voicemail (", "CREATE TABLE extensions (", "AUTO_INCREMENT PRIMARY KEY"}},
		{"sqlite", []string{"CREATE TABLE IF NOT EXISTS sippeers (", "CREATE TABLE IF NOT EXISTS voicemail (", "CREATE TABLE IF NOT EXISTS extensions (", "AUTOINCREMENT"}},
	} {
		create, drop, err := Statements(dir, c.dialect)
		if err != nil {
			t.Fatalf("%s: %v", c.dialect, err)
		}
		all := strings.Join(create, "\n;\n")
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: no %q in\n%s", c.dialect, w, all)
			}
		}
		if strings.Contains(all, "iaxfriends") || strings.Contains(all, "alembic") {
			t.Errorf("%s: extra tables extracted", c.dialect)
		}
		if c.dialect == "postgres" && !strings.Contains(strings.Join(drop, ";"), "DROP TYPE IF EXISTS yes_no_values") {
			t.Errorf("postgres: types not dropped: %v", drop)
		}
		if !strings.HasPrefix(drop[0], "DROP TABLE IF EXISTS ast_config") && c.dialect != "postgres" {
			t.Errorf("%s: drop = %v", c.dialect, drop)
		}
	}
}
