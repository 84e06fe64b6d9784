package sip

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// FuzzParseConfig: any sip.conf text parses to a configuration or to errors, never a panic.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		baseConf + alicePeer,
		presConf,
		"[general]\nudpbindaddr=[::1]:5060\ntcpenable=yes\nrtautoclear=5\nkeepalive=yes\n[p](!)\nqualify=250\n[q](p)\nhost=10.0.0.1\npermit=10.0.0.0/255.0.0.0\n",
		"[general]\nminexpiry=100\nmaxexpiry=10\n[x]\nmd5secret=zz\nmailbox=1@a&2,3\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := conf.Parse("sip.conf", []byte(text), conf.Options{})
		if err != nil {
			return
		}
		pc, err := parseConfig(cfg, "")
		if err == nil && pc.set == nil {
			t.Fatal("no settings")
		}
	})
}

// FuzzNonce: arbitrary nonces are never accepted as ours.
func FuzzNonce(f *testing.F) {
	n := newNonceStore(16)
	f.Add(n.issue(time.Now()))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, nonce string) {
		id, ours, _ := n.check(nonce, time.Now(), time.Minute)
		if ours {
			// only a nonce we issued can verify; re-encode check: its id must be stable
			if id2, ours2, _ := n.check(nonce, time.Now(), time.Minute); !ours2 || id2 != id {
				t.Fatal("unstable check")
			}
		}
	})
}

// FuzzRawAnswer: whatever a peer sends to the UDP socket, the check for answers to our
// NOTIFYs (made before sipgo parses anything) never panics, and settles only a NOTIFY we sent.
func FuzzRawAnswer(f *testing.F) {
	seq := nextBranchSeq()
	branch := string(appendBranch(nil, seq))
	for _, seed := range []string{
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=" + branch + ";rport=5060\r\nCSeq: 2 NOTIFY\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 481 Gone\r\nv: SIP/2.0/UDP h;branch=" + branch + ",SIP/2.0/UDP x;branch=z\r\nCSeq: 2 NOTIFY\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + branchPrefix + "zzzzzzzzzzzzzzzz\r\nCSeq: 1 NOTIFY\r\n",
		"SIP/2.0 100 \r\n\nVia:branch=\r\n NOTIFY\r\n",
		"REGISTER sip:x SIP/2.0\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := &notifyTxs{remove: func(*subscription, int) {}}
		for i := range n.shards {
			n.shards[i].m = map[uint64]*notifyTx{}
		}
		sh := n.shard(seq)
		sh.m[seq] = &notifyTx{sub: &subscription{}}
		if n.rawAnswer(data) && !bytes.Contains(data, []byte(branch)) {
			t.Fatalf("settled our NOTIFY with an answer that does not name its branch: %q", data)
		}
	})
}

// FuzzParseBranch: only our own prefix followed by a base-36 number up to 2^64-1 is ours, and
// it prints back to the same text.
func FuzzParseBranch(f *testing.F) {
	f.Add([]byte(appendBranch(nil, 12345)))
	f.Add([]byte(branchPrefix + "3w5e11264sgsf"))
	f.Add([]byte(branchPrefix + "3w5e11264sgsg"))
	f.Add([]byte("z9hG4bK.other"))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, ok := parseBranch(b)
		if !ok {
			return
		}
		back := appendBranch(nil, seq)
		// leading zeros parse to the same number
		if !bytes.Equal(back, b) && !bytes.HasPrefix(b[len(branchPrefix):], []byte("0")) {
			t.Fatalf("%q -> %d -> %q", b, seq, back)
		}
	})
}

// FuzzLogText: whatever a client sends, an escaped value has no byte a log reader could take
// for the end of a line, a quote or a field of its own, and the escaping can be read back.
func FuzzLogText(f *testing.F) {
	for _, seed := range []string{"alice", "evil from=10.9.8.7", "x' failed for '10.9.8.7:5060' - Wrong password", "a\r\nb\x1b[2J", "\xff\xfe(callid: x)", `\x41`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		text, value := logText(s), logValue(s)
		for _, out := range []string{text, value[1 : len(value)-1]} {
			for i := 0; i < len(out); i++ {
				c := out[i]
				if c < 0x20 || c >= 0x7f || c == '\'' || c == '"' || c == '(' || c == ')' {
					t.Fatalf("%q escaped to %q: byte %q left", s, out, c)
				}
			}
		}
		if strings.ContainsAny(value[1:len(value)-1], " =") {
			t.Fatalf("%q as a value %q keeps a space or '='", s, value)
		}
		if got := unescapeLog(text); got != s {
			t.Fatalf("%q escaped to %q reads back as %q", s, text, got)
		}
	})
}

// unescapeLog reads escapeLog's output back (only \xNN sequences are escapes).
func unescapeLog(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b = append(b, byte(v))
				i += 3
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}
