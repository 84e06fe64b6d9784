package core

import (
	"os"
	"path/filepath"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/sip"
)

// debianSounds is where Debian's asterisk-core-sounds-* packages install Asterisk's sound
// files (Debian's asterisk sets astdatadir=/usr/share/asterisk).
const debianSounds = "/usr/share/asterisk/sounds"

// soundsDir is where Playback() and Read() find sound files: astdatadir/sounds as Asterisk
// searches; when that directory does not exist, Debian's /usr/share/asterisk/sounds if it
// does (so an installed asterisk-core-sounds-en-wav is found without configuration).
func (s *Server) soundsDir() string {
	dir := filepath.Join(s.Settings.Dirs.Data, "sounds")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	if st, err := os.Stat(debianSounds); err == nil && st.IsDir() {
		return debianSounds
	}
	return dir
}

// CallHandler is what a channel technology gives every incoming call leg (the SIP
// server's INVITE handler): the dialplan runs on it in a goroutine of its own. Without a
// dialplan engine the leg is refused with congestion (SIP 503).
func (s *Server) CallHandler(leg *channel.Channel) {
	if d := s.Dialplan; d != nil {
		d.Handler()(leg)
		return
	}
	leg.Hangup(channel.CauseCongestion)
}

// wireSIPCalls gives the SIP channel driver the server's channel registry and the handler
// of incoming calls. MERGE: the SIP channel technology (branch callsip) adds the method;
// the lead replaces the body with the line below when both branches are merged.
//
//	srv.SetCalls(s.Channels, s.CallHandler)
func wireSIPCalls(srv *sip.Server, s *Server) {
	_, _ = srv, s
}
