package ami

import (
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/channel"
)

// MusicOnHoldStart carries the channel and Class, MusicOnHoldStop the channel (Asterisk
// 20's manager_channels.c), both in the call class.
func TestMusicOnHoldEvents(t *testing.T) {
	snap := channel.Snapshot{Name: "SIP/alice-00000001", State: channel.Up, UniqueID: "1.1", LinkedID: "1.1"}
	ev, ok := ChannelEvent(channel.Event{Kind: channel.EventMusicOnHoldStart, Channel: snap, MusicClass: "default"})
	if !ok || ev.Name != "MusicOnHoldStart" || ev.Class != ClassCall {
		t.Fatalf("start: %+v %v", ev, ok)
	}
	if f := ev.Fields; f[0] != (Field{"Channel", "SIP/alice-00000001"}) || f[len(f)-1] != (Field{"Class", "default"}) || f[len(f)-2].Key != "Linkedid" {
		t.Errorf("start fields: %v", f)
	}
	ev, ok = ChannelEvent(channel.Event{Kind: channel.EventMusicOnHoldStop, Channel: snap})
	if !ok || ev.Name != "MusicOnHoldStop" || ev.Fields[len(ev.Fields)-1].Key != "Linkedid" {
		t.Fatalf("stop: %+v %v", ev, ok)
	}
	if channel.EventMusicOnHoldStart.String() != "MusicOnHoldStart" || channel.EventMusicOnHoldStop.String() != "MusicOnHoldStop" {
		t.Error("event kind names")
	}
}
