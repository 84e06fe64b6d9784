package cdr

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/pleiades-pbx/pleiades/internal/conf"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// SQLite is the embedded database backend (Asterisk's cdr_sqlite3_custom with its default
// file, astlogdir/master.db): Asterisk's cdr columns in table Table, created when missing.
// It is on unless cdr_sqlite3_custom.conf's [master] says enabled = no (a Pleiades key);
// its columns/values templates are not read (the columns are always Asterisk's).
type SQLite struct {
	Path  string
	Table string // "cdr" unless set

	mu         sync.Mutex
	db         *sql.DB
	insert     *sql.Stmt // prepared once: parsing the INSERT for every record cost a quarter of a write
	insertMany *sql.Stmt // the INSERT of sqliteRows rows: a batch pays database/sql's and the driver's per-statement work once for them
	args       []any
}

// sqliteRows is how many records insertMany carries (21 parameters each).
const sqliteRows = 16

// ParseSQLite reads cdr_sqlite3_custom.conf's [master]: whether the backend is on and its
// table.
func ParseSQLite(cfg *conf.Config) (on bool, table string, warn string, err error) {
	on, table = true, "cdr"
	if cfg == nil {
		return
	}
	m := cfg.Category("master")
	if m == nil {
		return
	}
	if on, err = m.Bool("enabled", true); err != nil {
		return
	}
	if t := m.Get("table"); t != "" {
		table = t
	}
	if m.Get("columns") != "" || m.Get("values") != "" {
		warn = "cdr_sqlite3_custom.conf: columns/values are not used; the table has Asterisk's cdr columns"
	}
	return
}

// Name is the backend's name in "cdr show status".
func (*SQLite) Name() string { return "sqlite3" }

func (s *SQLite) table() string {
	if s.Table == "" {
		return "cdr"
	}
	return s.Table
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (s *SQLite) open(ctx context.Context) error {
	db, err := sql.Open("sqlite", "file:"+s.Path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return fmt.Errorf("cdr_sqlite3: %w", err)
	}
	db.SetMaxOpenConns(1)
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+quoteIdent(s.table())+` (
		id INTEGER PRIMARY KEY AUTOINCREMENT, accountcode TEXT, src TEXT, dst TEXT, dcontext TEXT, clid TEXT,
		channel TEXT, dstchannel TEXT, lastapp TEXT, lastdata TEXT, start TEXT, answer TEXT, "end" TEXT,
		duration INTEGER, billsec INTEGER, disposition TEXT, amaflags TEXT, userfield TEXT, uniqueid TEXT,
		linkedid TEXT, peeraccount TEXT, sequence INTEGER)`)
	if err != nil {
		db.Close()
		return fmt.Errorf("cdr_sqlite3: %s: %w", s.Path, err)
	}
	idents := make([]string, len(pgColumns))
	marks := make([]string, len(pgColumns))
	for i, c := range pgColumns {
		idents[i], marks[i] = quoteIdent(c), "?"
	}
	head := "INSERT INTO " + quoteIdent(s.table()) + " (" + strings.Join(idents, ",") + ") VALUES "
	row := "(" + strings.Join(marks, ",") + ")"
	s.insert, err = db.PrepareContext(ctx, head+row)
	if err == nil {
		s.insertMany, err = db.PrepareContext(ctx, head+strings.Repeat(row+",", sqliteRows-1)+row)
	}
	if err != nil {
		if s.insert != nil {
			s.insert.Close()
		}
		db.Close()
		return fmt.Errorf("cdr_sqlite3: %s: %w", s.Path, err)
	}
	s.db = db
	return nil
}

// Write inserts the records in one transaction, in order.
func (s *SQLite) Write(ctx context.Context, recs []*Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		if err := s.open(ctx); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cdr_sqlite3: %w", err)
	}
	defer tx.Rollback()
	one, many := tx.StmtContext(ctx, s.insert), tx.StmtContext(ctx, s.insertMany)
	for len(recs) > 0 {
		stmt, k := one, 1
		if len(recs) >= sqliteRows {
			stmt, k = many, sqliteRows
		}
		args := s.args[:0]
		for _, r := range recs[:k] {
			args = appendSQLiteArgs(args, r)
		}
		_, err := stmt.ExecContext(ctx, args...)
		clear(args)
		s.args = args[:0]
		if err != nil {
			return fmt.Errorf("cdr_sqlite3: %w", err)
		}
		recs = recs[k:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cdr_sqlite3: %w", err)
	}
	return nil
}

// appendSQLiteArgs appends r's values for the INSERT's columns (pgColumns).
func appendSQLiteArgs(args []any, r *Record) []any {
	for _, c := range pgColumns {
		switch c {
		case "start", "answer", "end":
			v, _ := r.Field(c, false)
			if v != "" {
				// Local time, as Asterisk's cdr_sqlite3_custom writes ${CDR(start)}.
				switch c {
				case "start":
					v = FormatTime(r.Start.Local())
				case "answer":
					v = FormatTime(r.Answer.Local())
				default:
					v = FormatTime(r.End.Local())
				}
			}
			args = append(args, v)
		case "duration":
			args = append(args, r.Duration())
		case "billsec":
			args = append(args, r.Billsec(false))
		case "sequence":
			args = append(args, r.Sequence)
		default:
			v, _ := r.Field(c, false)
			args = append(args, v)
		}
	}
	return args
}

// Close closes the database.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	s.insert.Close()
	s.insertMany.Close()
	err := s.db.Close()
	s.db, s.insert, s.insertMany = nil, nil, nil
	return err
}
