package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"strings"
)

//go:embed schema.sql
var schemaSQL string

// DefaultTables are the tables schema.sql creates, in order.
var DefaultTables = []string{"sippeers", "voicemail", "extensions", "queues", "queue_members", "ast_config"}

// SchemaSQL returns the embedded schema: a SQLite rendering of Asterisk's PostgreSQL realtime
// scripts (see schema.sql) for DefaultTables.
func SchemaSQL() string { return schemaSQL }

// SchemaStatements returns the statements of schema.sql that create tables (and their indexes
// and triggers), in order; with no argument every table's.
func SchemaStatements(tables ...string) []string {
	want := map[string]bool{}
	for _, t := range tables {
		want[strings.ToLower(t)] = true
	}
	var out []string
	cur := ""
	for _, chunk := range strings.Split(schemaSQL, "\n;\n") {
		var body []string
		for _, line := range strings.Split(chunk, "\n") {
			if t, ok := strings.CutPrefix(line, "-- table: "); ok {
				cur = strings.TrimSpace(t)
				continue
			}
			if strings.HasPrefix(line, "--") {
				continue
			}
			body = append(body, line)
		}
		stmt := strings.TrimSpace(strings.Join(body, "\n"))
		if stmt == "" || (len(want) > 0 && !want[cur]) {
			continue
		}
		out = append(out, stmt)
	}
	return out
}

// CreateDefaultSchema creates, in the SQLite database file dbfile (created if missing), the
// tables sippeers, voicemail, extensions, queues, queue_members and ast_config with the columns
// of Asterisk's realtime scripts. Tables that exist are left alone, so it is safe on every start.
func CreateDefaultSchema(ctx context.Context, dbfile string) error {
	db, err := sql.Open(driverName, dsn(dbfile, defaultBusyTimeout))
	if err != nil {
		return fmt.Errorf("sqlite3: open %s: %w", dbfile, err)
	}
	defer db.Close()
	return execSchema(ctx, db, SchemaStatements())
}

func execSchema(ctx context.Context, db *sql.DB, stmts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite3: create schema: %w", err)
	}
	defer tx.Rollback()
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("sqlite3: create schema: %w\n%s", err, s)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite3: create schema: %w", err)
	}
	return nil
}
