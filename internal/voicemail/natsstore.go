package voicemail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// DefaultNATSBucket names the KV bucket (the mailboxes' indexes) and the object store (the
// recordings) of NATSStore when voicemail.conf has no natsbucket.
const DefaultNATSBucket = "pleiades_voicemail"

// NATSStore keeps messages in the cluster's NATS JetStream: every server connected to the
// same NATS (embedded with cluster.conf jetstream=yes, or an external one with JetStream)
// reads the same messages, without a shared file system or database.
//
// Each mailbox has one key in a KV bucket, "<context>.<mailbox>" (characters other than
// letters, digits, '-' and '_' written =XX), whose value is the mailbox's index: for every
// folder its messages in order, each an id and its metadata (all of Meta: nothing is lost as
// with the SQL table). A message's number is its place in its folder's list, so numbering
// without gaps and renumbering after a delete or move need no renaming: the list is rewritten.
// The recording is an object "<context>.<mailbox>/<id>" of the object store of the same name
// (a whole WAV file, so `nats object get` gives a file to play), untouched by moves.
//
// Every change of the index is a compare-and-set on the key's revision: two servers changing
// one mailbox at once (two callers leaving messages, or one server moving while another saves)
// both read the index, one write wins and the other reads again and retries, so no message
// is lost or numbered twice; a move between folders is one write, so a message is never in
// two folders nor none. Save stores the recording first, then adds the message to the index:
// the message appears complete or not at all, and a failed save removes its recording.
// Delete removes the message from the index first, then its recording (a failure between the
// two leaves an orphan recording, never a message without audio). The index is read from its
// stream's leader, not with nats.go's direct get (which any replica may answer, a lagging one
// included): a Count or List right after a Save on any server sees the message.
//
// The buckets are created on first use (file storage, natsreplicas copies), so a server
// whose JetStream is not ready yet (a JetStream cluster electing its leader after start)
// answers with an error until it is. A request that finds no responder (a stream electing its
// leader, just made or after a server was lost) reached no stream, so it is sent again for up
// to 5 s before the operation fails.
type NATSStore struct {
	nc       *nats.Conn
	bucket   string
	replicas int

	mu  sync.Mutex
	kv  jetstream.KeyValue
	obj jetstream.ObjectStore
}

// NewNATSStore returns a store on nc in bucket (DefaultNATSBucket when empty) with replicas
// copies of each bucket (1 when 0).
func NewNATSStore(nc *nats.Conn, bucket string, replicas int) (*NATSStore, error) {
	if nc == nil {
		return nil, errors.New("voicemail: storage=nats needs the cluster's NATS connection")
	}
	if bucket == "" {
		bucket = DefaultNATSBucket
	}
	if !natsBucketName(bucket) {
		return nil, fmt.Errorf("voicemail: %q is not a NATS bucket name (letters, digits, '-', '_')", bucket)
	}
	if replicas <= 0 {
		replicas = 1
	}
	return &NATSStore{nc: nc, bucket: bucket, replicas: replicas}, nil
}

func natsBucketName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// CheckJetStream tells whether the NATS behind the store has JetStream: an error that says so
// when it has none (the configuration is wrong), nil when it has or cannot tell yet (not
// connected yet). The connected server's INFO says whether it runs JetStream (an account
// info request cannot: nats.go takes "no responders" for "not enabled", and a JetStream
// cluster electing its leader may not respond); the account's refusal is asked apart.
func (s *NATSStore) CheckJetStream(ctx context.Context) error {
	if !s.nc.IsConnected() {
		return nil
	}
	if on, _ := s.nc.ConnectedServerJetStream(); !on {
		return fmt.Errorf("voicemail: storage=nats: the cluster's NATS has no JetStream (cluster.conf jetstream=yes for the embedded server)")
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return err
	}
	if _, err = js.AccountInfo(ctx); errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return fmt.Errorf("voicemail: storage=nats: JetStream is not enabled for this NATS account")
	}
	return nil
}

// transientWait bounds how long an operation retries a JetStream that has no responder for
// a moment (a stream electing its leader: just made, or a server lost).
const transientWait = 5 * time.Second

// retry runs f again while it fails for want of a responder, which means the request reached
// no stream (nothing was done, so doing it again is safe), for up to transientWait.
func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(transientWait)
	for {
		err := f()
		if err == nil || !(errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// open binds (creating them when missing) the KV bucket and the object store.
func (s *NATSStore) open(ctx context.Context) (jetstream.KeyValue, jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv != nil {
		return s.kv, s.obj, nil
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, nil, err
	}
	// A JetStream without a leader yet does not answer: do not hold a caller long.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: s.bucket, History: 1,
		Description: "Pleiades voicemail: the index of each mailbox", Storage: jetstream.FileStorage, Replicas: s.replicas})
	if err != nil {
		return nil, nil, fmt.Errorf("voicemail: NATS bucket %s: %w", s.bucket, err)
	}
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: s.bucket,
		Description: "Pleiades voicemail: the recordings", Storage: jetstream.FileStorage, Replicas: s.replicas})
	if err != nil {
		return nil, nil, fmt.Errorf("voicemail: NATS object store %s: %w", s.bucket, err)
	}
	s.kv, s.obj = kv, obj
	return kv, obj, nil
}

// Ready waits until the buckets can be opened or ctx ends.
func (s *NATSStore) Ready(ctx context.Context) error {
	for {
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _, err := s.open(octx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// natsEntry is one message in a mailbox's index.
type natsEntry struct {
	ID   string `json:"id"`
	Meta Meta   `json:"meta"`
}

// natsIndex is a mailbox's index: folder name (as in Folders) to its messages in order.
type natsIndex map[string][]natsEntry

// escapeKey writes s with only KV-safe characters: letters, digits, '-' and '_' as they
// are, every other byte =XX.
func escapeKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

func unescapeKey(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}

func boxKey(b Box) string { return escapeKey(b.Context) + "." + escapeKey(b.Mailbox) }

func (s *NATSStore) check(b Box, folders ...string) error {
	for _, f := range folders {
		if _, err := (&FileStore{}).folderDir(b, f); err != nil {
			return err
		}
	}
	return nil
}

// load reads a mailbox's index and its revision (0: no index yet).
func (s *NATSStore) load(ctx context.Context, b Box) (natsIndex, uint64, error) {
	kv, _, err := s.open(ctx)
	if err != nil {
		return nil, 0, err
	}
	var data []byte
	var rev uint64
	err = retry(ctx, func() (err error) {
		data, rev, err = s.leaderGet(ctx, kv.Bucket(), boxKey(b))
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return natsIndex{}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	idx := natsIndex{}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, 0, fmt.Errorf("voicemail: the NATS index of %s cannot be read: %w", b, err)
	}
	return idx, rev, nil
}

// leaderGet reads the last value of key in the KV bucket, and its revision, from the leader
// of the bucket's stream. nats.go's KeyValue.Get asks for it with a direct get, which any
// replica may answer, including one that has not caught up yet: with natsreplicas=3, just
// after a server was lost, a List or a Count right after a Save could miss the new message
// (TestNATSStoreThreeReplicasSurviveALostServer caught it). The leader has every write that
// was acknowledged. ErrKeyNotFound when the key has no value (never written, or deleted).
func (s *NATSStore) leaderGet(ctx context.Context, bucket, key string) ([]byte, uint64, error) {
	req, err := json.Marshal(struct {
		LastBySubject string `json:"last_by_subj"`
	}{"$KV." + bucket + "." + key})
	if err != nil {
		return nil, 0, err
	}
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return nil, 0, err
	}
	var resp struct {
		Error *struct {
			ErrCode     jetstream.ErrorCode `json:"err_code"`
			Description string              `json:"description"`
		} `json:"error"`
		Message *struct {
			Seq     uint64 `json:"seq"`
			Data    []byte `json:"data"`
			Headers []byte `json:"hdrs"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, 0, fmt.Errorf("voicemail: NATS answered a read of %s with %q: %w", key, msg.Data, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == jetstream.JSErrCodeMessageNotFound:
		return nil, 0, jetstream.ErrKeyNotFound
	case resp.Error != nil:
		return nil, 0, fmt.Errorf("voicemail: NATS read of %s: %s (%d)", key, resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, 0, fmt.Errorf("voicemail: NATS answered a read of %s with no message", key)
	case bytes.Contains(resp.Message.Headers, []byte("KV-Operation")):
		return nil, 0, jetstream.ErrKeyNotFound // a delete or purge marker
	}
	return resp.Message.Data, resp.Message.Seq, nil
}

// update applies change to a mailbox's index and writes it back if nobody wrote in between,
// else reads it again and retries.
func (s *NATSStore) update(ctx context.Context, b Box, change func(natsIndex) error) error {
	kv, _, err := s.open(ctx)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		idx, rev, err := s.load(ctx, b)
		if err != nil {
			return err
		}
		if err := change(idx); err != nil {
			return err
		}
		data, err := json.Marshal(idx)
		if err != nil {
			return err
		}
		err = retry(ctx, func() (err error) {
			if rev == 0 {
				_, err = kv.Create(ctx, boxKey(b), data)
			} else {
				_, err = kv.Update(ctx, boxKey(b), data, rev)
			}
			return err
		})
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) || try >= 100 {
			return err
		}
		// Another server changed the mailbox first: read it again.
	}
}

func folderName(folder string) string { return Folders[FolderIndex(folder)] }

func (s *NATSStore) Count(ctx context.Context, b Box, folder string) (int, error) {
	if err := s.check(b, folder); err != nil {
		return 0, err
	}
	idx, _, err := s.load(ctx, b)
	if err != nil {
		return 0, err
	}
	return len(idx[folderName(folder)]), nil
}

func (s *NATSStore) List(ctx context.Context, b Box, folder string) ([]Message, error) {
	if err := s.check(b, folder); err != nil {
		return nil, err
	}
	idx, _, err := s.load(ctx, b)
	if err != nil {
		return nil, err
	}
	f := folderName(folder)
	out := make([]Message, len(idx[f]))
	for i, e := range idx[f] {
		out[i] = Message{Folder: f, Num: i, Meta: e.Meta}
	}
	return out, nil
}

func objName(b Box, id string) string { return boxKey(b) + "/" + id }

func newMessageID() string {
	var r [12]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

func (s *NATSStore) Save(ctx context.Context, b Box, folder string, meta Meta, pcm []byte) (int, error) {
	if err := s.check(b, folder); err != nil {
		return 0, err
	}
	_, obj, err := s.open(ctx)
	if err != nil {
		return 0, err
	}
	id := newMessageID()
	wav := append(media.WAV(len(pcm)), pcm...)
	if err := retry(ctx, func() error { _, err := obj.PutBytes(ctx, objName(b, id), wav); return err }); err != nil {
		return 0, fmt.Errorf("voicemail: storing the recording in NATS: %w", err)
	}
	f := folderName(folder)
	n := 0
	err = s.update(ctx, b, func(idx natsIndex) error {
		n = len(idx[f])
		if n > 9999 {
			return fmt.Errorf("voicemail: folder %s of %s is full", f, b)
		}
		idx[f] = append(idx[f], natsEntry{ID: id, Meta: meta})
		return nil
	})
	if err != nil {
		// Not in the index: the recording is no message; it goes.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		obj.Delete(dctx, objName(b, id))
		cancel()
		return 0, err
	}
	return n, nil
}

func (s *NATSStore) Audio(ctx context.Context, b Box, folder string, num int) ([]byte, error) {
	if err := s.check(b, folder); err != nil {
		return nil, err
	}
	idx, _, err := s.load(ctx, b)
	if err != nil {
		return nil, err
	}
	l := idx[folderName(folder)]
	if num < 0 || num >= len(l) {
		return nil, ErrNoMessage
	}
	_, obj, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = retry(ctx, func() (err error) {
		data, err = obj.GetBytes(ctx, objName(b, l[num].ID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("voicemail: the recording of message %d of %s/%s: %w", num, b, folder, err)
	}
	return sound.ParseWAV(data)
}

func (s *NATSStore) Move(ctx context.Context, b Box, from string, num int, to string) (int, error) {
	if err := s.check(b, from, to); err != nil {
		return 0, err
	}
	src, dst := folderName(from), folderName(to)
	n := 0
	err := s.update(ctx, b, func(idx natsIndex) error {
		l := idx[src]
		if num < 0 || num >= len(l) {
			return ErrNoMessage
		}
		e := l[num]
		idx[src] = append(l[:num:num], l[num+1:]...)
		n = len(idx[dst]) // to the same folder: to its end, as the other stores do
		idx[dst] = append(idx[dst], e)
		return nil
	})
	return n, err
}

func (s *NATSStore) Delete(ctx context.Context, b Box, folder string, num int) error {
	if err := s.check(b, folder); err != nil {
		return err
	}
	f := folderName(folder)
	var gone natsEntry
	err := s.update(ctx, b, func(idx natsIndex) error {
		l := idx[f]
		if num < 0 || num >= len(l) {
			return ErrNoMessage
		}
		gone = l[num]
		idx[f] = append(l[:num:num], l[num+1:]...)
		return nil
	})
	if err != nil {
		return err
	}
	_, obj, err := s.open(ctx)
	if err != nil {
		return err
	}
	if err := retry(ctx, func() error { return obj.Delete(ctx, objName(b, gone.ID)) }); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("voicemail: message deleted, its recording not: %w", err)
	}
	return nil
}

func (s *NATSStore) Boxes(ctx context.Context) ([]Box, error) {
	kv, _, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	err = retry(ctx, func() (err error) {
		keys, err = kv.Keys(ctx)
		return err
	})
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Box
	for _, k := range keys {
		c, m, ok := strings.Cut(k, ".")
		if !ok {
			continue
		}
		ctxName, ok1 := unescapeKey(c)
		mb, ok2 := unescapeKey(m)
		if !ok1 || !ok2 {
			continue
		}
		b := Box{Context: ctxName, Mailbox: mb}
		idx, _, err := s.load(ctx, b)
		if err != nil {
			return out, err
		}
		for _, l := range idx {
			if len(l) > 0 {
				out = append(out, b)
				break
			}
		}
	}
	return out, nil
}

// errNothing stops an update that has nothing to write.
var errNothing = errors.New("voicemail: nothing to change")

// Purge removes a folder's messages in one write of the index, then their recordings.
func (s *NATSStore) Purge(ctx context.Context, b Box, folder string) (int, error) {
	if err := s.check(b, folder); err != nil {
		return 0, err
	}
	f := folderName(folder)
	var gone []natsEntry
	err := s.update(ctx, b, func(idx natsIndex) error {
		gone = idx[f]
		if len(gone) == 0 {
			return errNothing
		}
		delete(idx, f)
		return nil
	})
	if errors.Is(err, errNothing) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	_, obj, err := s.open(ctx)
	if err != nil {
		return len(gone), err
	}
	for _, e := range gone {
		if err := retry(ctx, func() error { return obj.Delete(ctx, objName(b, e.ID)) }); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return len(gone), fmt.Errorf("voicemail: messages purged, a recording not: %w", err)
		}
	}
	return len(gone), nil
}
