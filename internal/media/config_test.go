package media

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

func parse(t *testing.T, text string) (Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rtp.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := conf.Load(p, conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ParseConfig(c)
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		check   func(Config) bool
		err     string // substring; "" = no error
		notices int
	}{
		{name: "no file: Asterisk's code defaults", text: "",
			check: func(c Config) bool {
				return c.RTPStart == 5000 && c.RTPEnd == 31000 && c.Strict == StrictYes && c.Probation == 4 &&
					c.DTMFTimeout == 1200 && c.RTCPInterval == 5*time.Second && c.Checksums
			}},
		{name: "sample values", text: "[general]\nrtpstart=10000\nrtpend=20000\n",
			check: func(c Config) bool { return c.RTPStart == 10000 && c.RTPEnd == 20000 }},
		{name: "odd start rounds up", text: "[general]\nrtpstart=10001\nrtpend=10003\n",
			check: func(c Config) bool { return c.RTPStart == 10002 }},
		{name: "seqno, probation, checksums off, dtmftimeout, rtcpinterval clamped",
			text: "[general]\nstrictrtp=seqno\nprobation=8\nrtpchecksums=no\ndtmftimeout=3000\nrtcpinterval=100\n",
			check: func(c Config) bool {
				return c.Strict == StrictSeqno && c.Probation == 8 && !c.Checksums && c.DTMFTimeout == 3000 && c.RTCPInterval == 500*time.Millisecond
			}},
		{name: "strictrtp=no", text: "[general]\nstrictrtp=no\n", check: func(c Config) bool { return c.Strict == StrictNo }},
		{name: "ICE and STUN accepted with a notice", text: "[general]\nicesupport=yes\nstunaddr=stun.example.com\nfoo=1\n[ice_host_candidates]\n192.168.1.10 => 1.2.3.4\n",
			check: func(c Config) bool { return c.Strict == StrictYes }, notices: 4},
		{name: "bad port", text: "[general]\nrtpstart=abc\n", err: "rtp.conf:2: rtpstart: \"abc\" is not a port number"},
		{name: "port below 1024", text: "[general]\nrtpstart=80\n", err: ":2: rtpstart: 80 is outside 1024-65535"},
		{name: "start above end", text: "[general]\nrtpstart=20000\nrtpend=10000\n", err: ":3: rtpstart 20000 and rtpend 10000 leave no even RTP port"},
		{name: "bad strictrtp", text: "[general]\nstrictrtp=maybe\n", err: ":2: strictrtp: \"maybe\" is not yes, no or seqno"},
		{name: "bad probation", text: "[general]\nprobation=0\n", err: ":2: probation"},
		{name: "bad dtmftimeout", text: "[general]\ndtmftimeout=-5\n", err: ":2: dtmftimeout"},
		{name: "every error at once", text: "[general]\nrtpstart=x\nrtpend=y\nrtpchecksums=perhaps\n", err: "rtp.conf:4: rtpchecksums"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config %+v", c)
			}
			if len(c.Notices) != tt.notices {
				t.Fatalf("notices %q", c.Notices)
			}
		})
	}
	if c, err := ParseConfig(nil); err != nil || c.RTPStart != DefaultRTPStart {
		t.Fatal("nil config")
	}
}

func TestSampleRTPConf(t *testing.T) {
	c, err := conf.Load("../../../shared/asterisk-samples/rtp.conf.sample", conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RTPStart != 10000 || cfg.RTPEnd != 20000 || cfg.Strict != StrictYes {
		t.Fatalf("%+v", cfg)
	}
}
