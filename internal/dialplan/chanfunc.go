package dialplan

import (
	"context"
	"fmt"
	"strings"
)

// CHANNEL(item): the items that cost nothing to give. musicclass reads and writes the
// channel's music on hold class (on a real leg, the leg's, which music on hold reads:
// internal/moh); the others are read-only. Any other item is an error, as func_channel's
// "unknown or unavailable item requested".
func init() {
	builtins.funcs.put("CHANNEL", &Function{Name: "CHANNEL", Synopsis: "Gets/sets various pieces of information about the channel.",
		Read: fnChannelRead, Write: fnChannelWrite})
}

func fnChannelRead(_ context.Context, ch *Channel, args string) (string, error) {
	item := strings.ToLower(strings.TrimSpace(args))
	switch item {
	case "musicclass":
		return ch.MusicClass(), nil
	case "language":
		return ch.language(), nil
	case "name":
		return ch.Name, nil
	case "uniqueid":
		return ch.UniqueID, nil
	case "linkedid":
		if ch.leg != nil {
			return ch.leg.LinkedID(), nil
		}
		return ch.UniqueID, nil
	case "state":
		return ch.State(), nil
	case "channeltype":
		if ch.leg != nil {
			t, _, _ := strings.Cut(ch.leg.Name(), "/")
			return t, nil
		}
		t, _, _ := strings.Cut(ch.Name, "/")
		return t, nil
	}
	return "", fmt.Errorf("unknown or unavailable item requested: '%s'", args)
}

func fnChannelWrite(_ context.Context, ch *Channel, args, value string) error {
	switch strings.ToLower(strings.TrimSpace(args)) {
	case "musicclass":
		ch.SetMusicClass(value)
		return nil
	}
	return fmt.Errorf("unknown or unavailable item requested: '%s'", args)
}

// MusicClass returns the channel's music on hold class (CHANNEL(musicclass)): on a real
// leg the leg's, "" for none.
func (ch *Channel) MusicClass() string {
	if ch.leg != nil {
		return ch.leg.MusicClass()
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.musicClass
}

// SetMusicClass sets the channel's music on hold class ("" clears it).
func (ch *Channel) SetMusicClass(class string) {
	if ch.leg != nil {
		ch.leg.SetMusicClass(class)
		return
	}
	ch.mu.Lock()
	ch.musicClass = class
	ch.mu.Unlock()
}
