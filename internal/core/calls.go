package core

import (
	"os"
	"path/filepath"
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
