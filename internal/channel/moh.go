package channel

// Music on hold as the channel core sees it (Asterisk's ast_moh_start/ast_moh_stop hooks,
// which res_musiconhold installs): the core knows that music on hold may exist, and who
// plays it is installed on the Registry (internal/moh). A channel carries its own class
// (CHANNEL(musicclass)).

// MusicOnHold plays music on hold to a channel's media in the background. internal/moh
// implements it; Registry.SetMusicOnHold installs it.
type MusicOnHold interface {
	// StartMOH starts music on hold on ch and returns at once: class is the class asked for
	// ("" for none: the channel's own class, else "default"), chosen as Asterisk's
	// ast_moh_start does. A channel plays one class at a time: a second start replaces the
	// first. It fails when no class can be played or ch has no media.
	StartMOH(ch *Channel, class string) error
	// StopMOH stops ch's music and returns once it has stopped sending (nothing playing:
	// nothing to do).
	StopMOH(ch *Channel)
}

// mohHolder boxes the installed MusicOnHold for the Registry's atomic pointer.
type mohHolder struct{ m MusicOnHold }

// SetMusicOnHold installs what plays music on hold on the registry's channels (nil: none,
// held channels then hear whatever the holder sends).
func (r *Registry) SetMusicOnHold(m MusicOnHold) {
	if m == nil {
		r.moh.Store(nil)
		return
	}
	r.moh.Store(&mohHolder{m})
}

// MusicOnHold returns the installed music on hold, nil for none.
func (r *Registry) MusicOnHold() MusicOnHold {
	if r == nil {
		return nil
	}
	if h := r.moh.Load(); h != nil {
		return h.m
	}
	return nil
}

// musicClass is the type of the channel value holding CHANNEL(musicclass): not a string,
// so the dialplan does not read it as a technology variable.
type musicClass string

const musicClassKey = "channel.musicclass"

// SetMusicClass sets the channel's music on hold class (Asterisk's
// ast_channel_musicclass_set, CHANNEL(musicclass)); "" clears it.
func (ch *Channel) SetMusicClass(class string) {
	if class == "" {
		ch.Set(musicClassKey, nil)
		return
	}
	ch.Set(musicClassKey, musicClass(class))
}

// MusicClass returns the channel's music on hold class, "" for none.
func (ch *Channel) MusicClass() string {
	c, _ := ch.Value(musicClassKey).(musicClass)
	return string(c)
}

// The music on hold events, Asterisk's MusicOnHoldStart (with the class) and
// MusicOnHoldStop, published by what plays the music (PublishMusicOnHold). Their values
// stand apart from the enumeration of types.go.
const (
	EventMusicOnHoldStart EventKind = 100 + iota
	EventMusicOnHoldStop
)

// PublishMusicOnHold publishes MusicOnHoldStart (class set) or MusicOnHoldStop for ch;
// nothing once ch has hung up (its Hangup event is its last).
func (ch *Channel) PublishMusicOnHold(start bool, class string) {
	if ch.ended.Load() {
		return
	}
	if start {
		ch.publish(Event{Kind: EventMusicOnHoldStart, Channel: ch.Snapshot(), MusicClass: class})
		return
	}
	ch.publish(Event{Kind: EventMusicOnHoldStop, Channel: ch.Snapshot()})
}
