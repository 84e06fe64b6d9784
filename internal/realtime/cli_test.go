package realtime_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

func TestCLI(t *testing.T) {
	en := newEnv(t)
	if err := en.configure(t, "[settings]\nextensions.conf => sqlite3,asterisk,ast_config\nsippeers => sqlite3,asterisk\nsippeers => sqlite3,backup,sippeers,2\nvoicemail => sqlite3,asterisk,vm\n"); err != nil {
		t.Fatal(err)
	}
	reg := cli.NewRegistry()
	reg.MustRegister(en.e.Commands()...)
	run := func(line string) (string, error) {
		var b bytes.Buffer
		err := reg.Run(context.Background(), line, &b, nil)
		return b.String(), err
	}
	for _, c := range []struct {
		line, want string
		fail       bool
	}{
		{"realtime load sippeers name bob", "No rows found matching search criteria.\n", false},
		{"realtime store sippeers name bob secret pw context default", "Stored RealTime record.\n", false},
		{"realtime store sippeers name bob nosuch x", "Failed to store record. Check the debug log for possible SQL related entries.\n", true},
		{"realtime load sippeers name bob", "" +
			"                   Column Name  Column Value                  \n" +
			"          --------------------  --------------------          \n" +
			"                            id  1                             \n" +
			"                          name  bob                           \n" +
			"                       context  default                       \n" +
			"                        secret  pw                            \n", false},
		{"realtime update sippeers name bob port 4343", "Updated 1 RealTime record.\n", false},
		{"realtime update sippeers name nobody port 4343", "Updated 0 RealTime records.\n", false},
		{"realtime update sippeers name bob nosuch 1", "Failed to update. Check the debug log for possible SQL related entries.\n", true},
		{"realtime update2 sippeers name bob port 4343 NULL ipaddr 192.0.2.1", "Updated 1 RealTime record.\n", false},
		{"realtime update2 sippeers name bob ipaddr 192.0.2.2", "Updated 1 RealTime record.\n", false},
		{"realtime destroy sippeers name bob port 1", "Removed 0 RealTime records.\n", false},
		{"realtime destroy sippeers name bob", "Removed 1 RealTime record.\n", false},
		{"realtime destroy iaxpeers name bob", "Failed to remove record. Check the debug log for possible SQL related entries.\n", true},
		{"core show config mappings", "\nConfig Engine: sqlite3\n" +
			"===> extensions.conf (db=asterisk, table=ast_config)\n" +
			"===> sippeers (db=asterisk, table=sippeers)\n" +
			"===> sippeers (db=backup, table=sippeers)\n" +
			"===> voicemail (db=asterisk, table=vm)\n", false},
	} {
		got, err := run(c.line)
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.line, got, c.want)
		}
		if (err != nil) != c.fail {
			t.Errorf("%s: err %v", c.line, err)
		}
	}
	for _, line := range []string{"realtime load sippeers name", "realtime update sippeers name bob port", "realtime store sippeers", "realtime update2 sippeers name bob NULL", "realtime destroy sippeers name"} {
		if _, err := run(line); err != cli.ErrUsage {
			t.Errorf("%s: %v, want usage", line, err)
		}
	}
	out, err := run("realtime show sqlite3 status")
	if err != nil || !bytes.Contains([]byte(out), []byte("Database asterisk: ")) || !bytes.Contains([]byte(out), []byte("Connections: ")) {
		t.Errorf("status: %v\n%s", err, out)
	}
	e := realtime.New(nil)
	reg2 := cli.NewRegistry()
	reg2.MustRegister(e.Commands()...)
	var b bytes.Buffer
	_ = reg2.Run(context.Background(), "core show config mappings", &b, nil)
	if b.String() != "No config mappings found.\n" {
		t.Errorf("no engines: %q", b.String())
	}
}
