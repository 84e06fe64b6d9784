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

	mu     sync.Mutex
	db     *sql.DB
	insert *sql.Stmt // prepared once: parsing the INSERT for every record cost a quarter of a write
}

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
	s.insert, err = db.PrepareContext(ctx, "INSERT INTO "+quoteIdent(s.table())+" ("+strings.Join(idents, ",")+") VALUES ("+strings.Join(marks, ",")+")")
	if err != nil {
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
	insert := tx.StmtContext(ctx, s.insert)
	args := make([]any, len(pgColumns))
	for _, r := range recs {
		for i, c := range pgColumns {
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
				args[i] = v
			case "duration":
				args[i] = r.Duration()
			case "billsec":
				args[i] = r.Billsec(false)
			case "sequence":
				args[i] = r.Sequence
			default:
				args[i], _ = r.Field(c, false)
			}
		}
		if _, err := insert.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("cdr_sqlite3: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cdr_sqlite3: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	s.insert.Close()
	err := s.db.Close()
	s.db, s.insert = nil, nil
	return err
}
