package media

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// StrictMode is rtp.conf's strictrtp.
type StrictMode uint8

// strictrtp values.
const (
	// StrictNo accepts RTP from anywhere (strictrtp=no).
	StrictNo StrictMode = iota
	// StrictYes learns the source by sequence and pace, then locks to it (strictrtp=yes).
	StrictYes
	// StrictSeqno learns by sequence alone (strictrtp=seqno).
	StrictSeqno
)

func (m StrictMode) String() string {
	switch m {
	case StrictYes:
		return "yes"
	case StrictSeqno:
		return "seqno"
	}
	return "no"
}

// Defaults, as Asterisk's res_rtp_asterisk.c has them (its code; rtp.conf.sample sets
// rtpstart=10000 and rtpend=20000).
const (
	DefaultRTPStart        = 5000
	DefaultRTPEnd          = 31000
	DefaultDTMFTimeout     = 150 * 8 // samples at 8 kHz: 150 ms
	DefaultRTCPInterval    = 5 * time.Second
	DefaultProbation       = 4
	DefaultLearningTimeout = 5 * time.Second // STRICT_RTP_LEARN_TIMEOUT
	minRTPPort             = 1024
	maxRTPPort             = 65535
	minRTCPInterval        = 500 * time.Millisecond
	maxRTCPInterval        = 60 * time.Second
	maxDTMFTimeout         = 64000
)

// Config is rtp.conf's [general] section.
type Config struct {
	// RTPStart and RTPEnd bound the RTP ports: RTP takes an even port in [RTPStart, RTPEnd],
	// RTCP the odd one above it.
	RTPStart, RTPEnd int
	// Checksums is rtpchecksums: false sets SO_NO_CHECK on the RTP and RTCP sockets (IPv4,
	// Linux), as Asterisk does.
	Checksums bool
	// DTMFTimeout is dtmftimeout, in samples: a telephone-event digit whose end never comes
	// ends when the stream's timestamps pass its start plus duration plus this.
	DTMFTimeout uint32
	// RTCPInterval is rtcpinterval (500 ms to 60 s). Pleiades reads RTCP and does not send
	// reports (see the package doc); the value is kept for `rtp show settings`-like output.
	RTCPInterval time.Duration
	// Strict is strictrtp; Probation its probation (packets in sequence that qualify a source).
	Strict    StrictMode
	Probation int
	// LearningTimeout is how long a session keeps learning after its remote address is set
	// before it locks to the source it has (Asterisk's fixed 5 s). Not an rtp.conf key.
	LearningTimeout time.Duration
	// Notices are what the file holds that Pleiades accepts and ignores (ICE, STUN, TURN,
	// DTLS, SRTP options; other sections) or does not know, as "file:line: text", for the
	// caller to log.
	Notices []string
}

// DefaultConfig is the configuration without an rtp.conf.
func DefaultConfig() Config {
	return Config{
		RTPStart:        DefaultRTPStart,
		RTPEnd:          DefaultRTPEnd,
		Checksums:       true,
		DTMFTimeout:     DefaultDTMFTimeout,
		RTCPInterval:    DefaultRTCPInterval,
		Strict:          StrictYes,
		Probation:       DefaultProbation,
		LearningTimeout: DefaultLearningTimeout,
	}
}

// ignoredGeneral are rtp.conf [general] keys of Asterisk that Pleiades accepts and ignores
// (no ICE, STUN, TURN, DTLS or SRTP here).
var ignoredGeneral = map[string]bool{
	"icesupport": true, "stunaddr": true, "stunaddr_reresolve_ttl_0": true, "stun_software_attribute": true,
	"stun_acl": true, "stun_deny": true, "stun_permit": true, "stun_blacklist": true,
	"turnaddr": true, "turnusername": true, "turnpassword": true,
	"ice_acl": true, "ice_deny": true, "ice_permit": true, "ice_blacklist": true,
	"srtpreplayprotection": true, "dtls_mtu": true, "rtpdebug": true, "rtcpdebug": true,
}

func confErr(v *conf.Variable, format string, args ...any) *conf.Error {
	return &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf(format, args...)}
}

// ParseConfig reads rtp.conf. cfg nil gives DefaultConfig. Every error of the file is
// returned at once (conf.ErrorList, each "file:line: reason"); where Asterisk warns and
// falls back to a default (a port out of range, rtpstart >= rtpend, a bad number), Pleiades
// refuses the file, so a reload with a mistake keeps the running configuration.
func ParseConfig(cfg *conf.Config) (Config, error) {
	c := DefaultConfig()
	if cfg == nil {
		return c, nil
	}
	var errs conf.ErrorList
	add := func(e *conf.Error) { errs = append(errs, e) }
	for _, cat := range cfg.Categories {
		if cat.Template {
			continue
		}
		if !strings.EqualFold(cat.Name, "general") {
			c.Notices = append(c.Notices, fmt.Sprintf("%s:%d: [%s] is not used by Pleiades; ignored", cat.File, cat.Line, cat.Name))
		}
	}
	g := cfg.Category("general")
	var startVar, endVar *conf.Variable
	if g != nil {
		for _, v := range g.Vars {
			name := strings.ToLower(strings.TrimSpace(v.Name))
			val := strings.TrimSpace(v.Value)
			port := func(dst *int) bool {
				n, err := strconv.Atoi(val)
				if err != nil {
					add(confErr(v, "%s: %q is not a port number", v.Name, v.Value))
					return false
				}
				if n < minRTPPort || n > maxRTPPort {
					add(confErr(v, "%s: %d is outside %d-%d", v.Name, n, minRTPPort, maxRTPPort))
					return false
				}
				*dst = n
				return true
			}
			switch name {
			case "rtpstart":
				if port(&c.RTPStart) {
					startVar = v
				}
			case "rtpend":
				if port(&c.RTPEnd) {
					endVar = v
				}
			case "rtpchecksums":
				switch {
				case conf.IsTrue(val):
					c.Checksums = true
				case conf.IsFalse(val):
					c.Checksums = false
				default:
					add(confErr(v, "%s: %q is not a boolean (yes/no)", v.Name, v.Value))
				}
			case "dtmftimeout":
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 || n > maxDTMFTimeout {
					add(confErr(v, "%s: %q is not a number of samples from 0 to %d", v.Name, v.Value, maxDTMFTimeout))
					continue
				}
				c.DTMFTimeout = uint32(n)
			case "rtcpinterval":
				n, err := strconv.Atoi(val)
				if err != nil {
					add(confErr(v, "%s: %q is not a number of milliseconds", v.Name, v.Value))
					continue
				}
				// Asterisk clamps to 500..60000 ms (0 included, which is not "off").
				d := min(max(time.Duration(n)*time.Millisecond, minRTCPInterval), maxRTCPInterval)
				c.RTCPInterval = d
			case "strictrtp":
				switch {
				case strings.EqualFold(val, "seqno"):
					c.Strict = StrictSeqno
				case conf.IsTrue(val):
					c.Strict = StrictYes
				case conf.IsFalse(val):
					c.Strict = StrictNo
				default:
					add(confErr(v, "%s: %q is not yes, no or seqno", v.Name, v.Value))
				}
			case "probation":
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 || n > 1000 {
					add(confErr(v, "%s: %q is not a packet count from 1 to 1000", v.Name, v.Value))
					continue
				}
				c.Probation = n
			default:
				if ignoredGeneral[name] {
					c.Notices = append(c.Notices, fmt.Sprintf("%s:%d: %s is not supported by Pleiades (no ICE, STUN, TURN, DTLS or SRTP); ignored", v.File, v.Line, v.Name))
				} else {
					c.Notices = append(c.Notices, fmt.Sprintf("%s:%d: [general] %s is not an rtp.conf option Pleiades knows; ignored", v.File, v.Line, v.Name))
				}
			}
		}
	}
	// Round the start up to even (RTP takes even ports); the range must hold one pair.
	if c.RTPStart%2 != 0 {
		c.RTPStart++
	}
	if c.RTPStart > c.RTPEnd {
		v := endVar
		if v == nil {
			v = startVar
		}
		if v != nil {
			add(confErr(v, "rtpstart %d and rtpend %d leave no even RTP port", c.RTPStart, c.RTPEnd))
		}
	}
	if len(errs) > 0 {
		return DefaultConfig(), errs
	}
	return c, nil
}
