package astdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// Usage texts, as in Asterisk's main/db.c.
const (
	usageShow = "Usage: database show [family [keytree]]\n" +
		"   OR: database show [family[/keytree]]\n" +
		"       Shows Asterisk database contents, optionally restricted\n" +
		"       to a given family, or family and keytree. The two arguments\n" +
		"       may be separated either by a space or by a slash.\n"
	usageShowKey = "Usage: database showkey <keytree>\n" +
		"       Shows Asterisk database contents, restricted to a given key.\n"
	usageGet = "Usage: database get <family> <key>\n" +
		"       Retrieves an entry in the Asterisk database for a given\n" +
		"       family and key.\n"
	usagePut = "Usage: database put <family> <key> <value>\n" +
		"       Adds or updates an entry in the Asterisk database for\n" +
		"       a given family, key, and value.\n"
	usageDel = "Usage: database del <family> <key>\n" +
		"       Deletes an entry in the Asterisk database for a given\n" +
		"       family and key.\n"
	usageDelTree = "Usage: database deltree <family> [keytree]\n" +
		"   OR: database deltree <family>[/keytree]\n" +
		"       Deletes a family or specific keytree within a family\n" +
		"       in the Asterisk database.  The two arguments may be\n" +
		"       separated by either a space or a slash.\n"
	usageQuery = "Usage: database query \"<SQL Statement>\"\n" +
		"       Run a user-specified SQL query on the database. Be careful.\n" +
		"       Only read-only SELECT statements are accepted.\n"
)

// Commands returns the "database ..." CLI commands working on db.
func Commands(db *DB) []*cli.Command {
	return []*cli.Command{
		{Words: []string{"database", "show"}, Summary: "Shows database contents", Usage: usageShow,
			Handler: db.cliShow, Complete: db.completeFamilyKey},
		{Words: []string{"database", "showkey"}, Summary: "Shows database contents", Usage: usageShowKey,
			Handler: db.cliShowKey},
		{Words: []string{"database", "get"}, Summary: "Gets database value", Usage: usageGet,
			Handler: db.cliGet, Complete: db.completeFamilyKey},
		{Words: []string{"database", "put"}, Summary: "Adds/updates database value", Usage: usagePut,
			Handler: db.cliPut, Complete: db.completeFamilyKey},
		{Words: []string{"database", "del"}, Summary: "Removes database key/value", Usage: usageDel,
			Handler: db.cliDel, Complete: db.completeFamilyKey},
		{Words: []string{"database", "deltree"}, Summary: "Removes database keytree/values", Usage: usageDelTree,
			Handler: db.cliDelTree, Complete: db.completeFamilyKey},
		{Words: []string{"database", "query"}, Summary: "Run a user-specified query on the astdb", Usage: usageQuery,
			Handler: db.cliQuery},
	}
}

// unavailable prints why the database failed and makes the run fail.
func unavailable(out io.Writer, err error) error {
	fmt.Fprintf(out, "Database unavailable: %v\n", err)
	return cli.ErrFailed
}

func printEntries(out io.Writer, es []Entry) {
	for _, e := range es {
		fmt.Fprintf(out, "%-50s: %-25s\n", e.Key, e.Value)
	}
	fmt.Fprintf(out, "%d results found.\n", len(es))
}

func (db *DB) cliShow(_ context.Context, a *cli.Args) error {
	var family, keytree string
	switch len(a.Rest) {
	case 0:
	case 1:
		family = a.Rest[0]
	case 2:
		family, keytree = a.Rest[0], a.Rest[1]
	default:
		return cli.ErrUsage
	}
	if family == "" && keytree != "" {
		return cli.ErrUsage
	}
	es, err := db.Show(family, keytree)
	if err != nil {
		return unavailable(a.Out, err)
	}
	printEntries(a.Out, es)
	return nil
}

func (db *DB) cliShowKey(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	es, err := db.ShowKey(a.Rest[0])
	if err != nil {
		return unavailable(a.Out, err)
	}
	printEntries(a.Out, es)
	return nil
}

func (db *DB) cliGet(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 2 {
		return cli.ErrUsage
	}
	v, err := db.Get(a.Rest[0], a.Rest[1])
	switch {
	case errors.Is(err, ErrNotFound):
		fmt.Fprintf(a.Out, "Database entry not found.\n")
		return cli.ErrFailed
	case err != nil:
		return unavailable(a.Out, err)
	}
	fmt.Fprintf(a.Out, "Value: %s\n", v)
	return nil
}

func (db *DB) cliPut(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 3 {
		return cli.ErrUsage
	}
	if err := db.Put(a.Rest[0], a.Rest[1], a.Rest[2]); err != nil {
		fmt.Fprintf(a.Out, "Failed to update entry\n")
		return cli.ErrFailed
	}
	fmt.Fprintf(a.Out, "Updated database successfully\n")
	return nil
}

func (db *DB) cliDel(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 2 {
		return cli.ErrUsage
	}
	err := db.Del(a.Rest[0], a.Rest[1])
	switch {
	case errors.Is(err, ErrNotFound):
		fmt.Fprintf(a.Out, "Database entry does not exist.\n")
		return cli.ErrFailed
	case err != nil:
		return unavailable(a.Out, err)
	}
	fmt.Fprintf(a.Out, "Database entry removed.\n")
	return nil
}

func (db *DB) cliDelTree(_ context.Context, a *cli.Args) error {
	if len(a.Rest) < 1 || len(a.Rest) > 2 || a.Rest[0] == "" {
		return cli.ErrUsage
	}
	keytree := ""
	if len(a.Rest) == 2 {
		keytree = a.Rest[1]
	}
	n, err := db.DelTree(a.Rest[0], keytree)
	switch {
	case err != nil:
		return unavailable(a.Out, err)
	case n == 0:
		fmt.Fprintf(a.Out, "Database entries do not exist.\n")
		return cli.ErrFailed
	}
	fmt.Fprintf(a.Out, "%d database entries removed.\n", n)
	return nil
}

// cliQuery prints each row as Asterisk does: one "column: value" line per column, then an
// empty line.
func (db *DB) cliQuery(ctx context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	cols, rows, err := db.Query(ctx, a.Rest[0])
	switch {
	case errors.Is(err, ErrNotSelect):
		fmt.Fprintf(a.Out, "Only read-only SELECT statements can be run.\n")
		return cli.ErrFailed
	case err != nil:
		fmt.Fprintf(a.Out, "Error executing SQL (%s): %v\n", a.Rest[0], err)
		return cli.ErrFailed
	}
	for _, row := range rows {
		for i, v := range row {
			s := v.String
			if !v.Valid {
				s = "(null)"
			}
			fmt.Fprintf(a.Out, "%-5s: %-50s\n", cols[i], s)
		}
		fmt.Fprintf(a.Out, "\n")
	}
	return nil
}

// completeFamilyKey completes a family name as the first argument and a key of that family
// as the second.
func (db *DB) completeFamilyKey(a *cli.Args, n int, word string) []string {
	var cands []string
	switch {
	case n == 0:
		cands, _ = db.Families()
	case n == 1 && len(a.Rest) >= 1 && a.Rest[0] != "":
		es, _ := db.Family(a.Rest[0])
		for _, e := range es {
			cands = append(cands, e.Key)
		}
	}
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, word) {
			out = append(out, c)
		}
	}
	return out
}
