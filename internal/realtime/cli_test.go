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
		{"realtime store sippeers name bob nosuch x", "Failed to store record. Check the debug log for possible SQL related entries.\nCommand 'realtime store sippeers name bob nosuch x' failed.\n", true},
		{"realtime load sippeers name bob", "" +
			"                   Column Name  Column Value                  \n" +
			"          --------------------  --------------------          \n" +
			"                            id  1                             \n" +
			"                          name  bob                           \n" +
			"                       context  default                       \n" +
			"                        secret  pw                            \n", false},
		{"realtime update sippeers name bob port 4343", "Updated 1 RealTime record.\n", false},
		{"realtime update sippeers name nobody port 4343", "Updated 0 RealTime records.\n", false},
		{"realtime update sippeers name bob nosuch 1", "Failed to update. Check the debug log for possible SQL related entries.\nCommand 'realtime update sippeers name bob nosuch 1' failed.\n", true},
		{"realtime update2 sippeers name bob port 4343 NULL ipaddr 192.0.2.1", "Updated 1 RealTime record.\n", false},
		{"realtime update2 sippeers name bob ipaddr 192.0.2.2", "Updated 1 RealTime record.\n", false},
		{"realtime destroy sippeers name bob port 1", "Removed 0 RealTime records.\n", false},
		{"realtime destroy sippeers name bob", "Removed 1 RealTime record.\n", false},
		{"realtime destroy iaxpeers name bob", "Failed to remove record. Check the debug log for possible SQL related entries.\nCommand 'realtime destroy iaxpeers name bob' failed.\n", true},
		// main/config.c: no blank line before an engine; each engine's mappings newest
		// line first (Asterisk prepends every mapping to its list).
		{"core show config mappings", "Config Engine: sqlite3\n" +
			"===> voicemail (db=asterisk, table=vm)\n" +
			"===> sippeers (db=backup, table=sippeers)\n" +
			"===> sippeers (db=asterisk, table=sippeers)\n" +
			"===> extensions.conf (db=asterisk, table=ast_config)\n", false},
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

// "core show config mappings" lists the mappings in force newest line first; a line that
// replaces an earlier one for the same family and priority takes its own place.
func TestMappingsOrder(t *testing.T) {
	en := newEnv(t)
	if err := en.configure(t, "[settings]\nqueues => sqlite3,asterisk\nsippeers => sqlite3,asterisk\nqueues => sqlite3,backup\n"); err != nil {
		t.Fatal(err)
	}
	reg := cli.NewRegistry()
	reg.MustRegister(en.e.Commands()...)
	var b bytes.Buffer
	if err := reg.Run(context.Background(), "core show config mappings", &b, nil); err != nil {
		t.Fatal(err)
	}
	want := "Config Engine: sqlite3\n===> queues (db=backup, table=queues)\n===> sippeers (db=asterisk, table=sippeers)\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
	if !en.e.Loaded("sqlite3") || en.e.Loaded("pgsql") {
		t.Fatalf("Loaded: sqlite3 %v, pgsql (not registered) %v", en.e.Loaded("sqlite3"), en.e.Loaded("pgsql"))
	}
}
