package cdr

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"strings"
	"sync"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/diskqueue"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// SQLite is the embedded database backend (Asterisk's cdr_sqlite3_custom with its default
// file, astlogdir/master.db): Asterisk's cdr columns in table Table, created when missing.
// It is on unless cdr_sqlite3_custom.conf's [master] says enabled = no (a Pleiades key);
// its columns/values templates are not read (the columns are always Asterisk's).
type SQLite struct {
	Path  string
	Table string // "cdr" unless set

	mu sync.Mutex
	db *sql.DB
	// inserts[i] is the INSERT of 1<<i rows, prepared once: parsing the INSERT for every
	// record cost a quarter of a write, and a statement of many rows pays database/sql's
	// and the driver's per-statement work once for them. A piece of n records is written
	// with the statements of n's binary digits.
	inserts [sqliteSizes]*sql.Stmt
	args    []any
}

// sqliteSizes is how many INSERT statements are prepared: of 1, 2, 4, 8 and 16 rows (21
// parameters each).
const sqliteSizes = 5

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
	for i := range s.inserts {
		s.inserts[i], err = db.PrepareContext(ctx, head+strings.Repeat(row+",", 1<<i-1)+row)
		if err != nil {
			s.closeStmts()
			db.Close()
			return fmt.Errorf("cdr_sqlite3: %s: %w", s.Path, err)
		}
	}
	s.db = db
	return nil
}

func (s *SQLite) closeStmts() {
	for i, st := range s.inserts {
		if st != nil {
			st.Close()
		}
		s.inserts[i] = nil
	}
}

// Write inserts the records in one transaction, in order.
func (s *SQLite) Write(ctx context.Context, recs []*Record) error {
	st, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	if err = st.Append(ctx, recs); err == nil {
		err = st.Commit(ctx)
	}
	if err != nil {
		st.Abort()
	}
	return err
}

// Begin opens a transaction that records are inserted into as they come (its queue hands
// them over piece by piece, diskqueue.Streamer) and that commits them all at once. The
// backend is held until Commit or Abort.
func (s *SQLite) Begin(ctx context.Context) (diskqueue.Stream[*Record], error) {
	s.mu.Lock()
	if s.db == nil {
		if err := s.open(ctx); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	// SQLite's statements run without the queue's context: for a context that can end,
	// database/sql and the driver start a goroutine per transaction and per statement to
	// watch it (and the driver a progress callback in every statement), a cost paid for
	// every piece, while a write into a local file ends in milliseconds anyway.
	ctx = context.WithoutCancel(ctx)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("cdr_sqlite3: %w", err)
	}
	return &sqliteTx{s: s, tx: tx}, nil
}

// sqliteTx is an open transaction of the SQLite backend.
type sqliteTx struct {
	s     *SQLite
	tx    *sql.Tx
	stmts [sqliteSizes]*sql.Stmt // the backend's statements in tx, made when first used
	done  bool
}

// Append inserts recs, in order, in the transaction.
func (t *sqliteTx) Append(ctx context.Context, recs []*Record) error {
	ctx = context.WithoutCancel(ctx) // see Begin
	for len(recs) > 0 {
		i := min(bits.Len(uint(len(recs)))-1, sqliteSizes-1)
		k := 1 << i
		if t.stmts[i] == nil {
			t.stmts[i] = t.tx.StmtContext(ctx, t.s.inserts[i])
		}
		args := t.s.args[:0]
		for _, r := range recs[:k] {
			args = appendSQLiteArgs(args, r)
		}
		_, err := t.stmts[i].ExecContext(ctx, args...)
		clear(args)
		t.s.args = args[:0]
		if err != nil {
			return fmt.Errorf("cdr_sqlite3: %w", err)
		}
		recs = recs[k:]
	}
	return nil
}

// Commit commits what was appended and releases the backend.
func (t *sqliteTx) Commit(context.Context) error {
	err := t.tx.Commit()
	t.release()
	if err != nil {
		return fmt.Errorf("cdr_sqlite3: %w", err)
	}
	return nil
}

// Abort rolls back what was appended (after a Commit, it does nothing).
func (t *sqliteTx) Abort() {
	if !t.done {
		t.tx.Rollback()
		t.release()
	}
}

func (t *sqliteTx) release() {
	if !t.done {
		t.done = true
		t.s.mu.Unlock()
	}
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
	s.closeStmts()
	err := s.db.Close()
	s.db = nil
	return err
}
