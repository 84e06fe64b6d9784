// Package media is the RTP layer of Pleiades' calls: the port pool of rtp.conf, one
// Session per call leg, the relay between two legs (Bridge), playback of Asterisk's sound
// files, Echo, RFC 4733 DTMF both ways, and per-leg statistics. The SIP channel driver
// makes the sessions and negotiates them with package media/sdp; the dialplan applications
// (Dial's bridge, Playback, Background, Read, Echo, SendDTMF) drive them.
//
// # Use
//
//	cfg, err := media.ParseConfig(rtpConf)        // rtp.conf [general]; errors are file:line
//	eng := media.NewEngine(cfg, log)               // owns the port range; eng.Reconfigure(cfg) on reload
//	s, err := eng.NewSession(media.SessionOptions{LocalIP: ip, Symmetric: natComedia, OnDTMF: f})
//	offer, _ := sdp.Parse(body)                   // an INVITE's SDP
//	n, err := sdp.Negotiate(offer, allow)          // sdp.ErrNoCommonCodec → 488
//	s.SetRemote(n)                                 // where to send, codec, telephone-event type, hold
//	answer := sdp.Answer(offer, n, sdp.Local{Addr: netip.AddrPortFrom(ourIP, s.LocalAddr().Port()), ...})
//	media.Bridge(s, other)                         // relay; s.Unbridge() to stop
//	s.PlayFile(ctx, soundsDir, lang, "hello-world", "")  // Playback; stop digits for Background
//	s.Echo(ctx, "#")                               // Echo()
//	s.SendDTMF(ctx, "123#", 0, 0)                  // SendDTMF()
//	rec, err := s.Record(ctx, media.RecordOptions{Stop: "#", MaxSilence: 3 * time.Second}) // VoiceMail, Record()
//	media.WriteWAV(f, rec.PCM)                     // Asterisk's "wav": 16-bit 8 kHz mono
//	s.Stats()                                      // sip show channelstats
//	s.Peer()                                       // the peer's address and codec, for directmedia
//	s.Close()                                      // ports back in the pool at once
//	eng.Stats(), eng.Collector()                   // counters; Prometheus metrics pleiades_rtp_*
//
// # Libraries
//
// github.com/pion/sdp/v3 parses SDP (media/sdp builds what it returns), github.com/zaf/g711
// gives the G.711 conversions (from which the relay builds 256-entry tables, so a packet is
// transcoded in place, one look-up per byte), and the tests speak RTP through
// github.com/pion/rtp, an implementation independent of this package's own header code.
// The packet path is written here: it reads the 12-byte header in place and rewrites the
// fields that change, which costs less than decoding into pion's rtp.Packet and encoding
// again. github.com/emiago/diago (sipgo's media companion) is not used: its bridge moves
// decoded audio through io.Reader/io.Writer pipelines per dialog session rather than
// forwarding packets, it is built around its own dialog sessions where Pleiades has its own
// channels, its strict source lock differs from Asterisk's strictrtp (no learning window,
// no RTP target address), it has no port pool over rtpstart/rtpend, and it pulls in
// WebRTC, DTLS, SRTP and ICE modules Pleiades does not use.
//
// # Ports
//
// A session takes an even port for RTP and the odd one above it for RTCP, as Asterisk
// does: a random start in [rtpstart, rtpend], then up by two (wrapping) until both bind;
// ports another program holds are skipped; ErrNoPorts when every pair is taken. Close
// gives the ports back at once (Asterisk keeps a closed session's ports for about 32 s,
// which is what exhausts a 5,000-port range at 80 calls/s); Engine.Stats reports the
// ports in use. Reconfigure applies a new range (and strictrtp settings) to sessions made
// after it.
//
// # Receiving: strictrtp, symmetric RTP
//
// strictrtp is Asterisk's (res_rtp_asterisk.c). A session learns its source from its
// creation and again after every SetRemote that changes the remote address: a packet from
// the source it has, or from the address in the peer's SDP (the "RTP target address"), is
// taken at once; any other address must send probation packets with consecutive sequence
// numbers to become the source (strictrtp=yes also refuses a run faster than Asterisk's
// minimum of (probation−1)·9−5 ms, a flood; strictrtp=seqno does not); its packets until
// then are dropped. Once the learning window (5 s, Asterisk's STRICT_RTP_LEARN_TIMEOUT)
// has passed, the session locks to its source and drops every other packet
// (Stats.Strangers); strictrtp=no takes everything. With SessionOptions.Symmetric
// (chan_sip's nat=comedia) the session sends to the source strictrtp accepted (with
// strictrtp=no, the last packet's source) rather than to the SDP address, so a phone
// behind NAT hears the call.
//
// Packets with payload type 0 (PCMU) and 8 (PCMA) are audio, whichever the peer
// negotiated; telephone-events come with the peer's payload type or ours
// (SessionOptions.DTMFPT, 101 by default); anything else (comfort noise, other codecs,
// rtcp-mux) is dropped and counted (Stats.Dropped), as are malformed packets. RTCP is read:
// packets are counted and the report block about our stream gives Stats.RemoteLost and
// RemoteJitter; Pleiades sends no RTCP reports (rtcpinterval is accepted).
//
// # Sending
//
// Each session sends one stream with its own SSRC. Whatever produces it — the bridged
// leg, Echo, Play, SendDTMF — sequence numbers go on from the last packet sent and
// timestamps from the last one plus the time passed, with the marker bit on the first
// packet of each new producer or source. Play and SendDTMF hold relayed packets back while
// they run. A peer whose SDP says it does not receive (sendonly, inactive, c=0.0.0.0) gets
// nothing until a new SetRemote.
//
// # Relay
//
// Bridge(a, b) forwards what each leg receives out of the other on the receiving
// session's own goroutine: the packet is rewritten in its read buffer (payload type to the
// other leg's numbers, SSRC, sequence number and timestamp offsets; µ-law ↔ A-law in
// place when the legs differ) and written with one system call. Nothing is allocated per
// packet (TestRelayPathAllocatesNothing, BenchmarkRelay*), no goroutine or timer is made
// per packet, and a packet of the same codec is not decoded. Events pass through with
// their original timing; to a leg without telephone-event they are dropped (Pleiades does
// not generate inband tones). Packets keep their packetization: a 30 ms leg sends 30 ms
// packets to a 20 ms leg (phones take it; Asterisk would repacketize).
//
// # DTMF
//
// Received telephone-events become DTMF begin and end (OnDTMF, and the stop digits of Play
// and Echo): a begin with the event's first packet, an end with its first end packet
// (retransmitted end packets are dropped by their timestamp), or, when the end is lost,
// once the stream's timestamps pass the digit's start + duration + dtmftimeout. They are
// seen whether the session is bridged or not. SendDTMF sends as Asterisk: a packet every
// 20 ms for the tone's duration (the first with the marker bit), then the end packet three
// times.
//
// # Playback
//
// Package media/sound finds a file as Asterisk does (language directory, language
// without dialect, the sounds directory, "en"; .wav 16-bit 8 kHz mono, .sln/.raw,
// .ulaw/.pcm, .alaw, a file in the leg's codec first) and Play sends it encoded to the leg's
// codec in ptime packets (20 ms unless the peer asked otherwise), paced by a ticker,
// returning one packet time after the last packet.
//
// # Recording
//
// Record (record.go) captures what the peer sends: each PCMU/PCMA packet is decoded to 16-bit
// linear (a 256-entry table) on the reading goroutine and appended to the recording, which
// the recording goroutine takes once it ends: on a Stop digit (RFC 4733, as Play's stop
// digits), MaxDuration of audio (or of time, when the peer sends nothing), MaxSilence of
// silence (a packet whose average absolute amplitude is under SilenceThreshold, Asterisk's
// silence detector; or no audio at all), the session closing or ctx ending (EndHangup, the
// audio so far returned, the caller decides). Silence that ended a recording is cut to its
// last 200 ms as Asterisk's ast_play_and_record does. A hole in the timestamps up to 2 s
// (lost packets) is filled with silence so the recording keeps its length; a duplicate or a
// packet older than what was recorded is dropped; telephone-events are never audio. The
// result is written as Asterisk's "wav" format (WriteWAV: RIFF, PCM, mono, 8 kHz, 16 bit),
// which sound.ParseWAV and so Playback read back.
//
// # Concurrency
//
// On Linux an engine reads every socket through GOMAXPROCS epoll sets ("reactors"), each
// served by one goroutine that parks in the Go runtime's poller (the epoll descriptor is
// itself pollable): one wake-up serves every socket ready at that moment, a packet costs one
// recvfrom and one sendto, and a session costs no goroutine (about 5 KB of memory per
// call instead of 33 KB with a goroutine per socket). Sessions are spread over the
// reactors in turn. Elsewhere — or with PLEIADES_RTP_TRANSPORT=goroutines in the
// environment, a diagnostic switch — each socket has its own reading goroutine. These are
// the only goroutines the package starts: Session.Close stops reading its sockets before
// it closes them, and Engine.Close stops the reactors; Engine.Close must be called. Play,
// Echo and SendDTMF run on the caller's goroutine.
//
// A packet is processed where it was read: receive state (strictrtp, statistics, DTMF
// detection) belongs to the session's reader alone; the send state of a session
// (destination, codec, SSRC, sequence, timestamps, the socket's write side) is under its
// txMu, taken by whoever sends on it (the bridged peer's reader, Play, SendDTMF, its own
// reader to move the destination). Counters are atomics, read by Stats without locks.
// OnDTMF runs on the reader: it must not block and must not call Close.
//
// Locks: Engine.bridgeMu (Bridge, Unbridge, Echo, Close) is never held while another lock
// is taken. The others, in the order they may be taken: Engine.mu (pool, sessions; held while a new session registers with a
// reactor) → reactor.mu (its sockets; held while it handles the packets of one wake-up) →
// Session.mu (remote description, learned source) → Session.txMu → Session.dtmfMu.
// Session.Close takes bridgeMu, then the reactor's mu, then its own txMu, one after the
// other. No lock is held across a blocking wait; the reader of session A takes B.txMu to
// forward to B.
package media
