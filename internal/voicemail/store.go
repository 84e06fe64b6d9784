package voicemail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// Folders are Asterisk's mailbox folders, numbered as app_voicemail numbers them (the save
// menu's digits are these numbers).
var Folders = []string{"INBOX", "Old", "Work", "Family", "Friends", "Cust1", "Cust2", "Cust3", "Cust4", "Cust5", "Deleted", "Urgent"}

// FolderIndex returns the number of folder (case-insensitive), -1 for none.
func FolderIndex(folder string) int {
	for i, f := range Folders {
		if strings.EqualFold(f, folder) {
			return i
		}
	}
	return -1
}

// Box names a mailbox in a store.
type Box struct{ Context, Mailbox string }

func (b Box) String() string { return b.Mailbox + "@" + b.Context }

// Meta is a message's metadata: the [message] section of Asterisk's msgNNNN.txt (and the
// columns of its voicemail_messages table).
type Meta struct {
	OrigMailbox  string
	Context      string
	MacroContext string
	Exten        string
	RDNIS        string
	Priority     int
	CallerChan   string
	CallerID     string
	OrigDate     string
	OrigTime     int64 // Unix seconds
	Category     string
	MsgID        string
	Flag         string // "Urgent" or ""
	Duration     int    // seconds
}

// Message is one stored message: its folder, number in the folder (msgNNNN) and metadata.
type Message struct {
	Folder string
	Num    int
	Meta   Meta
}

// Store keeps messages. Every backend numbers a folder's messages from 0 without gaps (after
// Delete and Move the rest are renumbered, as Asterisk's resequencing does) and makes a
// message visible only once its audio and metadata are both stored: a failed Save leaves
// nothing behind and counts nothing.
type Store interface {
	// Count returns how many messages folder holds.
	Count(ctx context.Context, box Box, folder string) (int, error)
	// List returns folder's messages by number.
	List(ctx context.Context, box Box, folder string) ([]Message, error)
	// Save stores a message (pcm: 16-bit 8 kHz linear samples) as folder's next number.
	Save(ctx context.Context, box Box, folder string, meta Meta, pcm []byte) (int, error)
	// Audio returns a message's samples (16-bit 8 kHz linear).
	Audio(ctx context.Context, box Box, folder string, num int) ([]byte, error)
	// Move moves a message to the end of another folder; it returns its new number.
	Move(ctx context.Context, box Box, from string, num int, to string) (int, error)
	// Delete removes a message; the folder's later messages move down by one.
	Delete(ctx context.Context, box Box, folder string, num int) error
	// Boxes lists the mailboxes that have a folder with messages (for pollmailboxes).
	Boxes(ctx context.Context) ([]Box, error)
}

// Purger is a Store that removes every message of a folder at once (VoiceMailPurge); the
// others are purged one Delete at a time.
type Purger interface {
	// Purge removes every message of folder and returns how many there were.
	Purge(ctx context.Context, box Box, folder string) (int, error)
}

// purgeFolder removes every message of folder: at once when the store can, else one by one
// from the highest number down (so no renumbering moves what is left to remove).
func purgeFolder(ctx context.Context, st Store, b Box, folder string) (int, error) {
	if p, ok := st.(Purger); ok {
		return p.Purge(ctx, b, folder)
	}
	n, err := st.Count(ctx, b, folder)
	if err != nil {
		return 0, err
	}
	done := 0
	for i := n - 1; i >= 0; i-- {
		err := st.Delete(ctx, b, folder, i)
		if errors.Is(err, ErrNoMessage) {
			continue // removed meanwhile (another server)
		}
		if err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// ErrNoMessage: no message with that number.
var ErrNoMessage = errors.New("voicemail: no such message")

// FileStore is Asterisk's spool layout: dir/<context>/<mailbox>/<folder>/msgNNNN.wav and
// msgNNNN.txt (dir is astspooldir/voicemail). A message exists once its .txt exists (Asterisk
// counts the .txt files too): Save writes the audio, then the metadata, each to a temporary
// name renamed into place.
type FileStore struct {
	Dir string

	mu    sync.Mutex
	boxes map[Box]*sync.Mutex
}

// NewFileStore returns a store over dir.
func NewFileStore(dir string) *FileStore { return &FileStore{Dir: dir, boxes: map[Box]*sync.Mutex{}} }

func (s *FileStore) lock(b Box) func() {
	s.mu.Lock()
	m := s.boxes[b]
	if m == nil {
		m = &sync.Mutex{}
		s.boxes[b] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9_.+\-]+$`)

func (s *FileStore) folderDir(b Box, folder string) (string, error) {
	if !safeName.MatchString(b.Context) || !safeName.MatchString(b.Mailbox) || b.Context == ".." || b.Mailbox == ".." ||
		strings.HasPrefix(b.Context, ".") || strings.HasPrefix(b.Mailbox, ".") {
		return "", fmt.Errorf("voicemail: %q is not a mailbox name the spool can hold", b.String())
	}
	if FolderIndex(folder) < 0 {
		return "", fmt.Errorf("voicemail: no folder %q", folder)
	}
	return filepath.Join(s.Dir, b.Context, b.Mailbox, Folders[FolderIndex(folder)]), nil
}

func msgBase(dir string, n int) string { return filepath.Join(dir, fmt.Sprintf("msg%04d", n)) }

// nums returns the message numbers present in dir (those with a .txt), sorted.
func nums(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "msg") || !strings.HasSuffix(n, ".txt") || len(n) != len("msg0000.txt") {
			continue
		}
		if v, err := strconv.Atoi(n[3:7]); err == nil {
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out, nil
}

func (s *FileStore) Count(_ context.Context, b Box, folder string) (int, error) {
	dir, err := s.folderDir(b, folder)
	if err != nil {
		return 0, err
	}
	n, err := nums(dir)
	return len(n), err
}

func (s *FileStore) List(_ context.Context, b Box, folder string) ([]Message, error) {
	dir, err := s.folderDir(b, folder)
	if err != nil {
		return nil, err
	}
	ns, err := nums(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(ns))
	for _, n := range ns {
		data, err := os.ReadFile(msgBase(dir, n) + ".txt")
		if err != nil {
			return nil, err
		}
		out = append(out, Message{Folder: Folders[FolderIndex(folder)], Num: n, Meta: ParseMeta(data)})
	}
	return out, nil
}

// writeFile writes data to path through a temporary file renamed into place.
func writeFile(path string, parts ...[]byte) error {
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err = f.Write(p); err != nil {
			break
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func (s *FileStore) Save(_ context.Context, b Box, folder string, meta Meta, pcm []byte) (int, error) {
	dir, err := s.folderDir(b, folder)
	if err != nil {
		return 0, err
	}
	defer s.lock(b)()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	ns, err := nums(dir)
	if err != nil {
		return 0, err
	}
	n := len(ns)
	if n > 0 {
		n = ns[len(ns)-1] + 1
	}
	if n > 9999 {
		return 0, fmt.Errorf("voicemail: folder %s of %s is full", folder, b)
	}
	base := msgBase(dir, n)
	if err := writeFile(base+".wav", media.WAV(len(pcm)), pcm); err != nil {
		return 0, err
	}
	if err := writeFile(base+".txt", FormatMeta(meta)); err != nil {
		os.Remove(base + ".wav")
		return 0, err
	}
	return n, nil
}

func (s *FileStore) Audio(_ context.Context, b Box, folder string, num int) ([]byte, error) {
	dir, err := s.folderDir(b, folder)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(msgBase(dir, num) + ".wav")
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoMessage
	}
	if err != nil {
		return nil, err
	}
	return sound.ParseWAV(data)
}

// msgFiles are the files of one message (Asterisk also keeps other formats and a .gsm).
func msgFiles(base string) []string {
	m, _ := filepath.Glob(base + ".*")
	return m
}

func (s *FileStore) Move(_ context.Context, b Box, from string, num int, to string) (int, error) {
	src, err := s.folderDir(b, from)
	if err != nil {
		return 0, err
	}
	dst, err := s.folderDir(b, to)
	if err != nil {
		return 0, err
	}
	defer s.lock(b)()
	if _, err := os.Stat(msgBase(src, num) + ".txt"); err != nil {
		return 0, ErrNoMessage
	}
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return 0, err
	}
	ns, err := nums(dst)
	if err != nil {
		return 0, err
	}
	n := 0
	if len(ns) > 0 {
		n = ns[len(ns)-1] + 1
	}
	// The .txt goes last: the message appears in dst complete.
	if err := moveMsg(msgBase(src, num), msgBase(dst, n)); err != nil {
		return 0, err
	}
	if src == dst {
		n-- // to its own folder's end: the renumbering moves it down by one
	}
	return n, resequence(src)
}

// moveMsg renames every file of a message, its .txt last.
func moveMsg(from, to string) error {
	files := msgFiles(from)
	sort.Slice(files, func(i, j int) bool {
		return !strings.HasSuffix(files[i], ".txt") && strings.HasSuffix(files[j], ".txt")
	})
	for _, f := range files {
		if err := os.Rename(f, to+strings.TrimPrefix(f, from)); err != nil {
			return err
		}
	}
	return nil
}

func (s *FileStore) Delete(_ context.Context, b Box, folder string, num int) error {
	dir, err := s.folderDir(b, folder)
	if err != nil {
		return err
	}
	defer s.lock(b)()
	base := msgBase(dir, num)
	if _, err := os.Stat(base + ".txt"); err != nil {
		return ErrNoMessage
	}
	// The .txt first: the message stops counting before its audio goes.
	if err := os.Remove(base + ".txt"); err != nil {
		return err
	}
	for _, f := range msgFiles(base) {
		os.Remove(f)
	}
	return resequence(dir)
}

// resequence renumbers dir's messages 0, 1, 2... in order (Asterisk's resequence_mailbox).
func resequence(dir string) error {
	ns, err := nums(dir)
	if err != nil {
		return err
	}
	for i, n := range ns {
		if i != n {
			if err := moveMsg(msgBase(dir, n), msgBase(dir, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *FileStore) Boxes(context.Context) ([]Box, error) {
	var out []Box
	ctxs, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, c := range ctxs {
		if !c.IsDir() {
			continue
		}
		mbs, err := os.ReadDir(filepath.Join(s.Dir, c.Name()))
		if err != nil {
			continue
		}
		for _, m := range mbs {
			if m.IsDir() {
				out = append(out, Box{Context: c.Name(), Mailbox: m.Name()})
			}
		}
	}
	return out, nil
}

// origDateLayout is Asterisk's origdate (strftime "%a %b %e %r %Z %Y").
const origDateLayout = "Mon Jan _2 03:04:05 PM MST 2006"

// NewMeta fills the date fields of meta for t.
func NewMeta(meta Meta, t time.Time) Meta {
	meta.OrigTime = t.Unix()
	meta.OrigDate = t.Format(origDateLayout)
	return meta
}

// FormatMeta writes meta as Asterisk's msgNNNN.txt.
func FormatMeta(m Meta) []byte {
	var b bytes.Buffer
	b.WriteString(";\n; Message Information file\n;\n[message]\n")
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	kv("origmailbox", m.OrigMailbox)
	kv("context", m.Context)
	kv("macrocontext", m.MacroContext)
	kv("exten", m.Exten)
	kv("rdnis", orUnknown(m.RDNIS))
	kv("priority", strconv.Itoa(m.Priority))
	kv("callerchan", m.CallerChan)
	kv("callerid", orUnknown(m.CallerID))
	kv("origdate", m.OrigDate)
	kv("origtime", strconv.FormatInt(m.OrigTime, 10))
	kv("category", m.Category)
	kv("msg_id", m.MsgID)
	kv("flag", m.Flag)
	kv("duration", strconv.Itoa(m.Duration))
	return b.Bytes()
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// ParseMeta reads a msgNNNN.txt; what it cannot read stays empty.
func ParseMeta(data []byte) Meta {
	var m Meta
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "origmailbox":
			m.OrigMailbox = v
		case "context":
			m.Context = v
		case "macrocontext":
			m.MacroContext = v
		case "exten":
			m.Exten = v
		case "rdnis":
			m.RDNIS = v
		case "priority":
			m.Priority, _ = strconv.Atoi(v)
		case "callerchan":
			m.CallerChan = v
		case "callerid":
			m.CallerID = v
		case "origdate":
			m.OrigDate = v
		case "origtime":
			m.OrigTime, _ = strconv.ParseInt(v, 10, 64)
		case "category":
			m.Category = v
		case "msg_id":
			m.MsgID = v
		case "flag":
			m.Flag = v
		case "duration":
			m.Duration, _ = strconv.Atoi(v)
		}
	}
	return m
}

// Copy copies message num of from's folder to the end of to's toFolder and returns its
// number there: what Asterisk's copy_message does when a message is forwarded. The copy keeps
// the message's metadata (its msg_id too, as Asterisk's copy of the .txt file and of the
// ODBC row); prepend, when not empty, is audio put before the message's (a comment recorded
// by the one who forwards it), its whole seconds added to the duration. It works on every
// store through List, Audio and Save, so a copy is as atomic as a Save.
func Copy(ctx context.Context, st Store, from Box, folder string, num int, to Box, toFolder string, prepend []byte) (int, error) {
	if FolderIndex(toFolder) < 0 {
		return 0, fmt.Errorf("voicemail: no folder %q", toFolder)
	}
	msgs, err := st.List(ctx, from, folder)
	if err != nil {
		return 0, err
	}
	var meta *Meta
	for i := range msgs {
		if msgs[i].Num == num {
			meta = &msgs[i].Meta
		}
	}
	if meta == nil {
		return 0, ErrNoMessage
	}
	pcm, err := st.Audio(ctx, from, folder, num)
	if err != nil {
		return 0, err
	}
	m := *meta
	if len(prepend) > 0 {
		pcm = append(append(make([]byte, 0, len(prepend)+len(pcm)), prepend...), pcm...)
		m.Duration = max(len(pcm)/16000, 1)
	}
	return st.Save(ctx, to, toFolder, m, pcm)
}
