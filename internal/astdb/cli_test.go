package astdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

func newCLI(t *testing.T) (*cli.Registry, *DB) {
	t.Helper()
	db, _ := openTemp(t)
	r := cli.NewRegistry()
	if err := r.Register(Commands(db)...); err != nil {
		t.Fatal(err)
	}
	return r, db
}

func line(key, value string) string { return fmt.Sprintf("%-50s: %-25s\n", key, value) }

func TestCLIGolden(t *testing.T) {
	steps := []struct {
		line    string
		want    string
		wantErr error
	}{
		// put
		{`database put cidname 5551234 Alice`, "Updated database successfully\n", nil},
		{`database put cidname 5551235 "Bob \"the builder\" Smith"`, "Updated database successfully\n", nil},
		{`database put fam_x a 5`, "Updated database successfully\n", nil},
		{`database put famAx a 6`, "Updated database successfully\n", nil},
		{`database put fam a/b deep`, "Updated database successfully\n", nil},
		{`database put fam c ünïcode`, "Updated database successfully\n", nil},
		{`database put cidname 5551234`, usagePut, cli.ErrUsage},
		{`database put a b c d`, usagePut, cli.ErrUsage},
		// get
		{`database get cidname 5551234`, "Value: Alice\n", nil},
		{`database get cidname 5551235`, "Value: Bob \"the builder\" Smith\n", nil},
		{`database get cidname 999`, "Database entry not found.\n", cli.ErrFailed},
		{`database get cidname`, usageGet, cli.ErrUsage},
		// show
		{`database show`,
			line("/cidname/5551234", "Alice") +
				line("/cidname/5551235", `Bob "the builder" Smith`) +
				line("/fam/a/b", "deep") +
				line("/fam/c", "ünïcode") +
				line("/famAx/a", "6") +
				line("/fam_x/a", "5") +
				"6 results found.\n", nil},
		{`database show fam_x`, line("/fam_x/a", "5") + "1 results found.\n", nil},
		{`database show fam`, line("/fam/a/b", "deep") + line("/fam/c", "ünïcode") + "2 results found.\n", nil},
		{`database show fam a`, line("/fam/a/b", "deep") + "1 results found.\n", nil},
		{`database show fam/a`, line("/fam/a/b", "deep") + "1 results found.\n", nil},
		{`database show nosuch`, "0 results found.\n", nil},
		{`database show a b c`, usageShow, cli.ErrUsage},
		// showkey
		{`database showkey a`, line("/famAx/a", "6") + line("/fam_x/a", "5") + "2 results found.\n", nil},
		{`database showkey a/b`, line("/fam/a/b", "deep") + "1 results found.\n", nil},
		{`database showkey _`, "0 results found.\n", nil},
		{`database showkey`, usageShowKey, cli.ErrUsage},
		// del
		{`database del cidname 5551235`, "Database entry removed.\n", nil},
		{`database del cidname 5551235`, "Database entry does not exist.\n", cli.ErrFailed},
		{`database del cidname`, usageDel, cli.ErrUsage},
		// deltree
		{`database deltree fa_x`, "Database entries do not exist.\n", cli.ErrFailed},
		{`database deltree fam_x`, "1 database entries removed.\n", nil},
		{`database deltree fam a`, "1 database entries removed.\n", nil},
		{`database deltree fam`, "1 database entries removed.\n", nil},
		{`database deltree`, usageDelTree, cli.ErrUsage},
		{`database deltree a b c`, usageDelTree, cli.ErrUsage},
		{`database show`, line("/cidname/5551234", "Alice") + line("/famAx/a", "6") + "2 results found.\n", nil},
		// query
		{`database query "SELECT key, value FROM astdb ORDER BY key"`,
			fmt.Sprintf("%-5s: %-50s\n%-5s: %-50s\n\n", "key", "/cidname/5551234", "value", "Alice") +
				fmt.Sprintf("%-5s: %-50s\n%-5s: %-50s\n\n", "key", "/famAx/a", "value", "6"), nil},
		{`database query "select count(*) AS n, NULL AS z from astdb"`,
			fmt.Sprintf("%-5s: %-50s\n%-5s: %-50s\n\n", "n", "2", "z", "(null)"), nil},
		{`database query "DELETE FROM astdb"`, "Only read-only SELECT statements can be run.\n", cli.ErrFailed},
		{`database query "SELECT 1; DELETE FROM astdb"`,
			"Error executing SQL (SELECT 1; DELETE FROM astdb): authorization denied: not authorized (23)\n", cli.ErrFailed},
		{`database query "SELECT nosuchcol FROM astdb"`,
			"Error executing SQL (SELECT nosuchcol FROM astdb): SQL logic error: no such column: nosuchcol (1)\n", cli.ErrFailed},
		{`database query SELECT 1`, usageQuery, cli.ErrUsage},
		{`database query`, usageQuery, cli.ErrUsage},
		{`database show`, line("/cidname/5551234", "Alice") + line("/famAx/a", "6") + "2 results found.\n", nil},
		// help
		{`help database put`, usagePut, nil},
	}
	r, _ := newCLI(t)
	for i, s := range steps {
		var buf bytes.Buffer
		err := r.Run(context.Background(), s.line, &buf, nil)
		if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
			t.Errorf("step %d %q: err = %v, want %v", i, s.line, err, s.wantErr)
		}
		if got := buf.String(); got != s.want {
			t.Errorf("step %d %q:\n got: %q\nwant: %q", i, s.line, got, s.want)
		}
	}
}

func TestCLIValueBytes(t *testing.T) {
	r, db := newCLI(t)
	var buf bytes.Buffer
	if err := r.Run(context.Background(), `database put q k "it's \"x\" 100%_"`, &buf, nil); err != nil {
		t.Fatal(err, buf.String())
	}
	if v, _ := db.Get("q", "k"); v != `it's "x" 100%_` {
		t.Errorf("stored %q", v)
	}
	if err := db.Put("n", "k", "a\nb"); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := r.Run(context.Background(), `database get n k`, &buf, nil); err != nil || buf.String() != "Value: a\nb\n" {
		t.Errorf("get = %q, %v", buf.String(), err)
	}
}

func TestCLIComplete(t *testing.T) {
	r, db := newCLI(t)
	seed(t, db)
	tests := []struct {
		line string
		want []string
	}{
		{"database sh", []string{"show", "showkey"}},
		{"database show fam", []string{"fam", "fam!", "fam0", "famAx", "fam_x"}},
		{"database get fam_", []string{"fam_x"}},
		{"database del ", []string{"Fam", "fa%", "fabulous", "fam", "fam!", "fam0", "famAx", "fam_x", "other"}},
		{"database deltree fam b", []string{"b/c", "b/d", "bc"}},
		{"database get fam b/", []string{"b/c", "b/d"}},
		{"database get nosuch ", nil},
		{"database showkey ", nil},
	}
	for _, tc := range tests {
		if got := r.Complete(tc.line); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Complete(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
