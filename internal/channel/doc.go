// Package channel is Pleiades' call leg abstraction (Asterisk's ast_channel and its
// channel technology interface, main/channel.c and main/bridge_basic.c in spirit): a
// Channel is one leg of a call, named as Asterisk names it ("SIP/alice-00000001"), with a
// state (Down, Ring, Ringing, Up, ...), caller ID, a place in the dialplan, a hangup cause
// and a technology side (Tech) that speaks to the far end. A Driver ("SIP", "Local") makes
// outgoing channels; the Registry holds a server's channels, its drivers and the
// observers of channel events (AMI, later CDR and CEL).
//
// # Threading
//
// One goroutine owns a channel at a time: the dialplan runner of an incoming channel, Dial
// while it waits for an outgoing one, a Bridge while both legs are joined. The owner reads
// Frames (what the far end did: answer, ringing, progress, DTMF, hold) and calls Answer,
// Indicate, SendDigit and Hangup. The Tech reports the far end from its own goroutines
// through Queue (frames) and HungUp (the far end ended the call: Done is closed). The
// owner notices Done and calls Hangup, which tells the Tech (once) to release the call —
// without signalling the far end again when it hung up first — publishes Hangup and
// removes the channel from the Registry. Hangup is idempotent and safe from any goroutine;
// RequestHangup is the soft hangup of "channel request hangup" and AMI Hangup.
//
// Events are published synchronously to the Registry's observers by the goroutine that
// caused them: Newchannel (Registry.New: every channel is born Down, an incoming one then
// gets Newstate Ring at once, the order Asterisk 20's chan_sip gives), Newstate (SetState, and Queue for answer and
// ringing frames), NewCallerid, DTMFBegin/DTMFEnd (Queue, SendDigit), Hold/Unhold,
// HangupRequest, Hangup; DialBegin/DialEnd are published by Dial through Registry.Publish,
// BridgeEnter/BridgeLeave by Bridge. Observers must not block.
//
// # Device state
//
// A technology reports its devices' states itself, as chan_sip does from its per-peer
// counters (ringing, in use, on hold against call-limit/busylevel): the SIP driver counts
// its channels per peer and sets SIP/<peer> through the state core like any provider, so
// hints, BLF, AMI and the cluster follow without code here.
//
// # Media
//
// A channel's media is its Tech's *media.Session (internal/media). A Bridge relays RTP
// between the two sessions (media.Bridge: same codec forwarded as is, µ-law/A-law
// transcoded, RFC 4733 passed through) and passes hold to the other side; playback, echo
// and DTMF sending act on one session. The media path never runs on the owner's goroutine.
//
// Two legs whose Techs implement DirectMedia (SIP directmedia=yes) and both may go direct
// with the same codec are switched by the bridge, in the background while the relay runs,
// to send their media to each other (direct.go); a hold brings them back through us, an
// unhold sends them direct again, and ReclaimMedia brings back a leg that outlives its
// bridge.
//
// # Music on hold
//
// Who plays music on hold is installed on the Registry (SetMusicOnHold; internal/moh): a
// Bridge starts it on the held side when the other side's FrameHold comes (the channel's
// MusicClass, CHANNEL(musicclass), else "default") and stops it at FrameUnhold or when the
// bridge ends; a Bridge also stops music already playing on either channel before it
// relays audio (StartMusicOnHold, Dial's m). Without one installed, hold is only indicated.
// The player publishes MusicOnHoldStart/MusicOnHoldStop on the channel (PublishMusicOnHold;
// their EventKinds stand apart from the others' enumeration).
package channel
