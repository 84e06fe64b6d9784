package moh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/logger"
	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// Errors of starting music on hold.
var (
	// ErrNoClass: none of the classes asked for (nor "default") exists with files.
	ErrNoClass = errors.New("moh: no music on hold class to play")
	// ErrNoMedia: the channel has no media session (a console or Local channel).
	ErrNoMedia = errors.New("moh: the channel has no media")
	// ErrNotAnswered: the class has answeredonly=yes and the channel is not answered.
	ErrNotAnswered = errors.New("moh: the channel is not answered (answeredonly)")
	// ErrClosed: the registry is closed.
	ErrClosed = errors.New("moh: closed")
)

// Registry holds the music on hold classes and the music playing on channels. It
// implements channel.MusicOnHold (Dial's m option, a held party in a bridge). Its methods
// are safe for concurrent use.
type Registry struct {
	log    *slog.Logger
	cfg    atomic.Pointer[Config]
	sounds atomic.Pointer[string]
	base   context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	playing map[*channel.Channel]*player
	closed  bool
	wg      sync.WaitGroup
}

// player is the music playing on one channel.
type player struct {
	class  string
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a registry without classes (Apply gives them).
func New(log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registry{log: log, base: ctx, cancel: cancel, playing: map[*channel.Channel]*player{}}
	r.cfg.Store(&Config{PreferChannelClass: true})
	return r
}

// Apply installs a parsed configuration (a load or a reload). Music already playing goes
// on with the files of its class as they were; the next start uses the new classes.
func (r *Registry) Apply(c *Config) {
	if c == nil {
		c = &Config{PreferChannelClass: true}
	}
	r.cfg.Store(c)
}

// Config returns the configuration in use.
func (r *Registry) Config() *Config { return r.cfg.Load() }

// SetSoundsDir sets where announcements are found (astdatadir/sounds, as Playback).
func (r *Registry) SetSoundsDir(dir string) { r.sounds.Store(&dir) }

func (r *Registry) soundsDir() string {
	if p := r.sounds.Load(); p != nil {
		return *p
	}
	return ""
}

// Close stops every channel's music and waits for it.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// Playing returns how many channels hear music on hold now.
func (r *Registry) Playing() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.playing)
}

// resolve finds the class to play among names, in order (empty names skipped), then
// "default": the first that exists. A name that does not exist is warned about, as
// Asterisk's "not found in memory".
func (r *Registry) resolve(names ...string) (*Class, error) {
	cfg := r.cfg.Load()
	for _, n := range append(names, "default") {
		if n == "" {
			continue
		}
		if c := cfg.Class(n); c != nil {
			return c, nil
		}
		r.log.Warn(fmt.Sprintf("Music on Hold class '%s' not found in memory. Verify your configuration.", n))
	}
	return nil, ErrNoClass
}

// appClass is the class for a class an application asks for (ast_moh_start(chan, class,
// NULL)): with preferchannelclass (the default) the channel's own class first, then the
// application's, then "default"; without it the application's first.
func (r *Registry) appClass(leg *channel.Channel, class string) (*Class, error) {
	own := leg.MusicClass()
	if r.cfg.Load().PreferChannelClass {
		return r.resolve(own, class)
	}
	return r.resolve(class, own)
}

// StartMOH starts music on hold on leg in the background (channel.MusicOnHold): class when
// given (Dial's m(class): app_dial makes it the channel's class for the start), else the
// channel's own class (CHANNEL(musicclass)), else "default". Music already playing on leg
// is replaced. It returns at once; the music stops with StopMOH, Close or the leg's hangup.
func (r *Registry) StartMOH(leg *channel.Channel, class string) error {
	if class == "" {
		class = leg.MusicClass()
	}
	c, err := r.resolve(class)
	if err != nil {
		return err
	}
	_, err = r.begin(r.base, leg, c)
	return err
}

// StopMOH stops leg's music and returns once it has stopped sending.
func (r *Registry) StopMOH(leg *channel.Channel) {
	r.mu.Lock()
	p := r.playing[leg]
	r.mu.Unlock()
	if p != nil {
		p.cancel()
		<-p.done
	}
}

// Play plays music on hold to the dialplan channel ch until ctx ends, then returns nil:
// the API for applications of other packages (Queue's caller waiting). class is the class
// the application asks for ("" for none), chosen as Asterisk's ast_moh_start(chan, class,
// NULL): with preferchannelclass=yes (the default) CHANNEL(musicclass) first, then class,
// then "default". It returns an error at once when nothing can be played: no class
// (ErrNoClass), a channel without media (ErrNoMedia: a console or Local channel),
// answeredonly on an unanswered channel (ErrNotAnswered); the caller then waits in
// silence if it wants to. A channel that is not answered gets early media (SIP 183) first.
// Music started on the channel another way (StartMusicOnHold) is replaced; StopMOH on the
// channel ends Play early (returning nil), and so does the channel's hangup.
func (r *Registry) Play(ctx context.Context, ch *dialplan.Channel, class string) error {
	leg := ch.Leg()
	if leg == nil {
		return ErrNoMedia
	}
	return r.PlayLeg(ctx, leg, class)
}

// PlayLeg is Play for a call leg without a dialplan channel.
func (r *Registry) PlayLeg(ctx context.Context, leg *channel.Channel, class string) error {
	c, err := r.appClass(leg, class)
	if err != nil {
		return err
	}
	p, err := r.begin(ctx, leg, c)
	if err != nil {
		return err
	}
	<-p.done
	return nil
}

// begin starts a player of class c on leg under parent, replacing the one playing.
func (r *Registry) begin(parent context.Context, leg *channel.Channel, c *Class) (*player, error) {
	s := leg.Media()
	if s == nil {
		return nil, ErrNoMedia
	}
	if c.AnsweredOnly && leg.State() != channel.Up {
		r.log.Log(context.Background(), logger.Verbose(3), fmt.Sprintf("The channel '%s' is not answered yet. Ignore the moh request.", leg.Name()))
		return nil, ErrNotAnswered
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	// The new player takes the channel at once; the one it replaces is stopped by the new
	// player's goroutine before it sends anything, so a start never waits for another
	// channel's music.
	old := r.playing[leg]
	ctx, cancel := context.WithCancel(parent)
	p := &player{class: c.Name, cancel: cancel, done: make(chan struct{})}
	r.playing[leg] = p
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer close(p.done)
		defer func() {
			r.mu.Lock()
			if r.playing[leg] == p {
				delete(r.playing, leg)
			}
			r.mu.Unlock()
		}()
		defer cancel()
		if old != nil {
			old.cancel()
			<-old.done
		}
		stop := context.AfterFunc(r.base, cancel)
		defer stop()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			select {
			case <-leg.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
		if ctx.Err() != nil {
			return
		}
		if leg.State() != channel.Up {
			// Audio to an unanswered SIP call goes with a 183 (chan_sip sends one before the
			// first frame it writes to a call not yet answered).
			leg.Indicate(channel.CondProgress)
		}
		r.log.Log(context.Background(), logger.Verbose(3), fmt.Sprintf("Started music on hold, class '%s', on channel '%s'", c.Name, leg.Name()))
		leg.PublishMusicOnHold(true, c.Name)
		if err := r.stream(ctx, s, leg, c); err != nil && ctx.Err() == nil && !errors.Is(err, media.ErrClosed) {
			r.log.Warn(fmt.Sprintf("Music on hold class '%s' on %s stopped: %v", c.Name, leg.Name(), err))
		}
		r.log.Log(context.Background(), logger.Verbose(3), fmt.Sprintf("Stopped music on hold on %s", leg.Name()))
		leg.PublishMusicOnHold(false, "")
	}()
	return p, nil
}

// position is where a channel is in its class: kept on the channel so that music started
// again (hold, unhold, hold) goes on where it stopped, as res_musiconhold resumes a
// channel's file and offset when the class and its number of files are the same.
type position struct {
	class     string
	nfiles    int
	pos       int  // file index
	samples   int  // samples of that file already played
	announced bool // the announcement before the next file has played
}

const positionKey = "moh.position"

func positionOf(leg *channel.Channel, c *Class) *position {
	if p, ok := leg.Value(positionKey).(*position); ok && p.class == c.Name && p.nfiles == len(c.Files) {
		return p
	}
	p := &position{class: c.Name, nfiles: len(c.Files)}
	if c.Sort == SortRandom || c.Sort == SortRandStart {
		p.pos = rand.IntN(len(c.Files))
	}
	leg.Set(positionKey, p)
	return p
}

// next moves to the file after pos (sort=random: any file; loop_last: the last stays).
func (p *position) next(c *Class) {
	p.samples = 0
	n := len(c.Files)
	switch {
	case c.Sort == SortRandom:
		p.pos = rand.IntN(n)
	case c.LoopLast:
		p.pos = min(p.pos+1, n-1)
	default:
		p.pos = (p.pos + 1) % n
	}
}

// stream plays c's files to s, one after the other, each paced in real time by
// media.Session.Play, until ctx ends (nil) or the session closes or nothing of the class
// can be played (the error).
func (r *Registry) stream(ctx context.Context, s *media.Session, leg *channel.Channel, c *Class) error {
	pos := positionOf(leg, c)
	lang := leg.Snapshot().Language
	if lang == "" {
		lang = "en"
	}
	failed := 0
	for ctx.Err() == nil {
		if c.Announcement != "" && !pos.announced {
			pos.announced = true
			if _, err := s.PlayFile(ctx, r.soundsDir(), lang, c.Announcement, ""); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, media.ErrClosed) || errors.Is(err, media.ErrNoRemote) {
					return err
				}
				r.log.Warn(fmt.Sprintf("Unable to open file '%s': %v", c.Announcement, err))
			}
			continue
		}
		clip, err := load(s, c.Files[pos.pos])
		if err != nil {
			r.log.Warn(fmt.Sprintf("Unable to open file '%s': %v", c.Files[pos.pos], err))
			pos.next(c)
			if failed++; failed >= len(c.Files) {
				return fmt.Errorf("no file of class '%s' could be played", c.Name)
			}
			continue
		}
		failed = 0
		from := pos.samples
		if from >= clip.Samples() {
			from = 0
		}
		start := time.Now()
		_, err = s.Play(ctx, clipFrom(clip, from), "")
		if err != nil {
			if ctx.Err() != nil {
				pos.samples = min(from+int(time.Since(start)/(time.Second/8000)), clip.Samples())
				return nil
			}
			return err
		}
		pos.next(c)
		if c.Announcement != "" {
			pos.announced = false
		}
	}
	return nil
}

// load reads one of a class's files (a name without extension), in the session's codec
// when that format exists. An empty file is an error (it would play in no time, forever).
func load(s *media.Session, base string) (*sound.Clip, error) {
	prefer := sound.Ulaw
	if p, ok := s.Peer(); ok && p.Codec == media.PCMA {
		prefer = sound.Alaw
	}
	f, err := sound.Find("", "", base, prefer)
	if err != nil {
		return nil, err
	}
	c, err := sound.Load(f)
	if err != nil {
		return nil, err
	}
	if c.Samples() == 0 {
		return nil, fmt.Errorf("%s has no audio", f.Path)
	}
	return c, nil
}

// clipFrom is clip without its first n samples.
func clipFrom(c *sound.Clip, n int) *sound.Clip {
	if n <= 0 {
		return c
	}
	if c.Encoding == sound.Linear {
		return &sound.Clip{Encoding: c.Encoding, Data: c.Data[2*n:]}
	}
	return &sound.Clip{Encoding: c.Encoding, Data: c.Data[n:]}
}

var _ channel.MusicOnHold = (*Registry)(nil)
