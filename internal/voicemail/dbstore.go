package voicemail

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// DBStore keeps messages in Asterisk's ODBC storage table (voicemail_messages: dir, msgnum,
// context, macrocontext, callerid, origtime, duration, recording, flag, category,
// mailboxuser, mailboxcontext, msg_id), through one of the realtime drivers' raw SQL
// (realtime.Querier): every server of a cluster pointed at the same database reads the same
// messages, and so does an Asterisk configured with odbcstorage on that table. dir is the
// folder's spool path as Asterisk writes it (astspooldir/voicemail/<context>/<mailbox>/<folder>),
// so the rows of both are the same rows. recording holds the whole WAV file.
//
// A message is one INSERT: it exists complete or not at all. Two servers saving to one folder
// at once both try the next number; the loser's INSERT breaks the (dir, msgnum) key and it
// tries the number after. Move copies the row (INSERT ... SELECT) before deleting the
// original, so a failure between the two leaves a copy, never a loss.
type DBStore struct {
	q       realtime.Querier
	db      string
	table   string
	dialect string // pgsql, mysql, sqlite3, odbc
	spool   string // astspooldir/voicemail, for dir
}

var sqlName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// NewDBStore returns a store on table (voicemail_messages when empty) of database db of the
// realtime driver named dialect.
func NewDBStore(q realtime.Querier, dialect, db, table, spool string) (*DBStore, error) {
	if table == "" {
		table = "voicemail_messages"
	}
	if !sqlName.MatchString(table) {
		return nil, fmt.Errorf("voicemail: %q is not a table name", table)
	}
	switch dialect {
	case "pgsql", "mysql", "sqlite3", "odbc":
	default:
		return nil, fmt.Errorf("voicemail: no message storage through driver %q", dialect)
	}
	return &DBStore{q: q, db: db, table: table, dialect: dialect, spool: spool}, nil
}

// sql turns '?' placeholders into PostgreSQL's $n.
func (s *DBStore) sql(q string) string {
	q = strings.ReplaceAll(q, "{t}", s.table)
	if s.dialect != "pgsql" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *DBStore) dir(b Box, folder string) (string, error) {
	if _, err := (&FileStore{}).folderDir(b, folder); err != nil {
		return "", err
	}
	return filepath.Join(s.spool, b.Context, b.Mailbox, Folders[FolderIndex(folder)]), nil
}

func (s *DBStore) nums(ctx context.Context, dir string) ([]int, error) {
	_, rows, err := s.q.Query(ctx, s.db, s.sql("SELECT msgnum FROM {t} WHERE dir = ? ORDER BY msgnum"), 0, dir)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(rows))
	for _, r := range rows {
		if len(r) > 0 && r[0] != nil {
			if n, err := strconv.Atoi(*r[0]); err == nil {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

func (s *DBStore) Count(ctx context.Context, b Box, folder string) (int, error) {
	dir, err := s.dir(b, folder)
	if err != nil {
		return 0, err
	}
	_, rows, err := s.q.Query(ctx, s.db, s.sql("SELECT COUNT(*) FROM {t} WHERE dir = ?"), 1, dir)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 || len(rows[0]) == 0 || rows[0][0] == nil {
		return 0, nil
	}
	return strconv.Atoi(*rows[0][0])
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *DBStore) List(ctx context.Context, b Box, folder string) ([]Message, error) {
	dir, err := s.dir(b, folder)
	if err != nil {
		return nil, err
	}
	_, rows, err := s.q.Query(ctx, s.db, s.sql("SELECT msgnum, context, macrocontext, callerid, origtime, duration, flag, category, mailboxuser, msg_id FROM {t} WHERE dir = ? ORDER BY msgnum"), 0, dir)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(rows))
	for _, r := range rows {
		if len(r) < 10 {
			continue
		}
		num, _ := strconv.Atoi(str(r[0]))
		m := Meta{Context: str(r[1]), MacroContext: str(r[2]), CallerID: str(r[3]), Flag: str(r[6]),
			Category: str(r[7]), OrigMailbox: str(r[8]), MsgID: str(r[9])}
		m.OrigTime, _ = strconv.ParseInt(str(r[4]), 10, 64)
		m.Duration, _ = strconv.Atoi(str(r[5]))
		m = withDate(m)
		out = append(out, Message{Folder: Folders[FolderIndex(folder)], Num: num, Meta: m})
	}
	return out, nil
}

// withDate fills origdate from origtime (the table has no origdate column).
func withDate(m Meta) Meta {
	if m.OrigDate == "" && m.OrigTime != 0 {
		m.OrigDate = NewMeta(Meta{}, unix(m.OrigTime)).OrigDate
	}
	return m
}

func (s *DBStore) Save(ctx context.Context, b Box, folder string, meta Meta, pcm []byte) (int, error) {
	dir, err := s.dir(b, folder)
	if err != nil {
		return 0, err
	}
	wav := append(media.WAV(len(pcm)), pcm...)
	q := s.sql("INSERT INTO {t} (dir, msgnum, context, macrocontext, callerid, origtime, duration, recording, flag, category, mailboxuser, mailboxcontext, msg_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	var lastErr error
	for range 5 {
		ns, err := s.nums(ctx, dir)
		if err != nil {
			return 0, err
		}
		n := 0
		if len(ns) > 0 {
			n = ns[len(ns)-1] + 1
		}
		_, err = s.q.Exec(ctx, s.db, q, dir, n, meta.Context, meta.MacroContext, meta.CallerID,
			strconv.FormatInt(meta.OrigTime, 10), strconv.Itoa(meta.Duration), wav, meta.Flag, meta.Category,
			b.Mailbox, b.Context, meta.MsgID)
		if err == nil {
			return n, nil
		}
		if errors.Is(err, realtime.ErrUnavailable) {
			return 0, err
		}
		lastErr = err // most likely another server took the number: try the next
	}
	return 0, lastErr
}

func (s *DBStore) Audio(ctx context.Context, b Box, folder string, num int) ([]byte, error) {
	dir, err := s.dir(b, folder)
	if err != nil {
		return nil, err
	}
	col := "recording"
	switch s.dialect {
	case "pgsql":
		col = "encode(recording, 'base64')"
	case "mysql":
		col = "TO_BASE64(recording)"
	case "sqlite3":
		col = "hex(recording)"
	}
	_, rows, err := s.q.Query(ctx, s.db, s.sql("SELECT "+col+" FROM {t} WHERE dir = ? AND msgnum = ?"), 1, dir, num)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || len(rows[0]) == 0 || rows[0][0] == nil {
		return nil, ErrNoMessage
	}
	raw := *rows[0][0]
	var data []byte
	switch s.dialect {
	case "pgsql", "mysql":
		data, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(raw), ""))
	case "sqlite3":
		data, err = hex.DecodeString(raw)
	default:
		data = []byte(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("voicemail: message %d of %s: %w", num, dir, err)
	}
	return sound.ParseWAV(data)
}

const dbColumns = "context, macrocontext, callerid, origtime, duration, recording, flag, category, mailboxuser, mailboxcontext, msg_id"

func (s *DBStore) Move(ctx context.Context, b Box, from string, num int, to string) (int, error) {
	src, err := s.dir(b, from)
	if err != nil {
		return 0, err
	}
	dst, err := s.dir(b, to)
	if err != nil {
		return 0, err
	}
	ns, err := s.nums(ctx, src)
	if err != nil {
		return 0, err
	}
	found := false
	for _, n := range ns {
		found = found || n == num
	}
	if !found {
		return 0, ErrNoMessage
	}
	var n int
	for try := 0; ; try++ {
		dn, err := s.nums(ctx, dst)
		if err != nil {
			return 0, err
		}
		n = 0
		if len(dn) > 0 {
			n = dn[len(dn)-1] + 1
		}
		_, err = s.q.Exec(ctx, s.db, s.sql("INSERT INTO {t} (dir, msgnum, "+dbColumns+") SELECT ?, ?, "+dbColumns+" FROM {t} WHERE dir = ? AND msgnum = ?"), dst, n, src, num)
		if err == nil {
			break
		}
		if errors.Is(err, realtime.ErrUnavailable) || try >= 4 {
			return 0, err
		}
	}
	if _, err := s.q.Exec(ctx, s.db, s.sql("DELETE FROM {t} WHERE dir = ? AND msgnum = ?"), src, num); err != nil {
		return 0, err
	}
	if src == dst {
		n-- // to its own folder's end: the renumbering moves it down by one
	}
	return n, s.resequence(ctx, src)
}

func (s *DBStore) Delete(ctx context.Context, b Box, folder string, num int) error {
	dir, err := s.dir(b, folder)
	if err != nil {
		return err
	}
	n, err := s.q.Exec(ctx, s.db, s.sql("DELETE FROM {t} WHERE dir = ? AND msgnum = ?"), dir, num)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNoMessage
	}
	return s.resequence(ctx, dir)
}

// resequence renumbers dir's messages 0, 1, 2..., lowest first so each new number is free.
func (s *DBStore) resequence(ctx context.Context, dir string) error {
	ns, err := s.nums(ctx, dir)
	if err != nil {
		return err
	}
	for i, n := range ns {
		if i != n {
			if _, err := s.q.Exec(ctx, s.db, s.sql("UPDATE {t} SET msgnum = ? WHERE dir = ? AND msgnum = ?"), i, dir, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *DBStore) Boxes(ctx context.Context) ([]Box, error) {
	_, rows, err := s.q.Query(ctx, s.db, s.sql("SELECT DISTINCT mailboxcontext, mailboxuser FROM {t}"), 0)
	if err != nil {
		return nil, err
	}
	var out []Box
	for _, r := range rows {
		if len(r) == 2 && r[0] != nil && r[1] != nil {
			out = append(out, Box{Context: *r[0], Mailbox: *r[1]})
		}
	}
	return out, nil
}

func unix(sec int64) time.Time { return time.Unix(sec, 0) }

// Purge removes a folder's rows in one DELETE.
func (s *DBStore) Purge(ctx context.Context, b Box, folder string) (int, error) {
	dir, err := s.dir(b, folder)
	if err != nil {
		return 0, err
	}
	n, err := s.q.Exec(ctx, s.db, s.sql("DELETE FROM {t} WHERE dir = ?"), dir)
	return int(n), err
}
