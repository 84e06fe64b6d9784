package media

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pleiades-pbx/pleiades/internal/media/sdp"
)

func TestCollector(t *testing.T) {
	cfg := testConfig()
	cfg.RTPEnd = cfg.RTPStart + 9 // 5 pairs
	e := newEngine(t, cfg)
	c := newCall(t, e, sdp.PCMU, sdp.PCMA, 101, 101)
	c.a.audio(loopback(c.sa), 0, payload(160, 0), 3, 0)
	c.b.recvN(3, time.Second)
	newPhone(t).audio(loopback(c.sa), 0, payload(160, 0), 1, 0)  // a stranger: learning drops it
	c.a.conn.WriteToUDPAddrPort([]byte{1, 2, 3}, loopback(c.sa)) // not RTP
	waitFor(t, "counters", func() bool { st := e.Stats(); return st.Relayed == 3 && st.Strangers == 1 && st.Dropped == 1 })
	want := `
# HELP pleiades_rtp_dropped_packets_total Other RTP packets dropped: malformed, unknown payload type, nowhere to send.
# TYPE pleiades_rtp_dropped_packets_total counter
pleiades_rtp_dropped_packets_total 1
# HELP pleiades_rtp_ports RTP and RTCP ports of rtp.conf's range.
# TYPE pleiades_rtp_ports gauge
pleiades_rtp_ports 10
# HELP pleiades_rtp_ports_in_use RTP and RTCP ports held by sessions.
# TYPE pleiades_rtp_ports_in_use gauge
pleiades_rtp_ports_in_use 4
# HELP pleiades_rtp_relayed_packets_total RTP packets forwarded by bridges and echo.
# TYPE pleiades_rtp_relayed_packets_total counter
pleiades_rtp_relayed_packets_total 3
# HELP pleiades_rtp_sessions RTP sessions open.
# TYPE pleiades_rtp_sessions gauge
pleiades_rtp_sessions 2
# HELP pleiades_rtp_strict_dropped_packets_total RTP packets dropped by strictrtp (from a source not accepted).
# TYPE pleiades_rtp_strict_dropped_packets_total counter
pleiades_rtp_strict_dropped_packets_total 1
# HELP pleiades_rtp_transcoded_packets_total Relayed RTP packets converted between µ-law and A-law.
# TYPE pleiades_rtp_transcoded_packets_total counter
pleiades_rtp_transcoded_packets_total 3
`
	if err := testutil.CollectAndCompare(e.Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
