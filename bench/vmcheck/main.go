// Command vmcheck compares the voicemail messages of a spool folder (or of the NATS store) with the audio a sipp pcap
// sent (bench/voicemail.sh): every msgNNNN.wav must hold the pcap's RTP payload, decoded from
// G.711 to 16-bit linear, sample for sample.
//
//	go run ./bench/vmcheck -pcap /usr/share/sip-tester/g711a.pcap -dir SPOOL/voicemail/default/1234/INBOX
//	go run ./bench/vmcheck -nats nats://127.0.0.1:4223 -mailbox 1234@default   # storage = nats
//
// With -nats the messages are read from the voicemail NATS store (the mailbox's index in the
// KV bucket, its INBOX recordings from the object store, -bucket pleiades_voicemail).
//
// Each message is exact (every sample), late (a byte-exact suffix: the first packets were sent
// before the recording started, i.e. before the beep ended), short (a byte-exact prefix: the
// recording stopped early) or corrupted (anything else). It exits 1 when a message is
// corrupted or when fewer messages than -want are found.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pleiades-pbx/pleiades/internal/media"
	"github.com/pleiades-pbx/pleiades/internal/media/sound"
)

// pcapAudio returns the decoded audio of the pcap's RTP packets (Ethernet, IPv4, UDP; PCMU
// or PCMA payloads), in capture order.
func pcapAudio(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		return nil, fmt.Errorf("%s: not a little-endian pcap file", path)
	}
	var pcm []byte
	for off := 24; off+16 <= len(b); {
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16
		if off+incl > len(b) {
			break
		}
		pkt := b[off : off+incl]
		off += incl
		if len(pkt) < 42+12 {
			continue
		}
		rtp := pkt[42:]
		codec := media.PCMU
		switch rtp[1] & 0x7f {
		case 0:
		case 8:
			codec = media.PCMA
		default:
			continue
		}
		for _, s := range rtp[12:] {
			pcm = binary.LittleEndian.AppendUint16(pcm, uint16(media.DecodeSample(codec, s)))
		}
	}
	return pcm, nil
}

func main() {
	pcapPath := flag.String("pcap", "/usr/share/sip-tester/g711a.pcap", "the pcap sipp played")
	dir := flag.String("dir", "", "the folder holding the messages")
	want := flag.Int("want", 0, "messages expected")
	natsURL := flag.String("nats", "", "read the messages from the voicemail NATS store at this URL")
	bucket := flag.String("bucket", "pleiades_voicemail", "the voicemail NATS buckets (natsbucket)")
	mailbox := flag.String("mailbox", "1234@default", "the mailbox, with -nats")
	flag.Parse()
	sent, err := pcapAudio(*pcapPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var files []string
	read := func(f string) ([]byte, error) { return os.ReadFile(f) }
	if *natsURL != "" {
		files, read, err = natsMessages(*natsURL, *bucket, *mailbox)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	} else {
		files, _ = filepath.Glob(filepath.Join(*dir, "msg*.wav"))
		sort.Strings(files)
	}
	var exact, late, short, corrupted int
	var lateBy []time.Duration
	for _, f := range files {
		b, err := read(f)
		if err != nil {
			corrupted++
			continue
		}
		got, err := sound.ParseWAV(b)
		switch {
		case err != nil:
			corrupted++
			fmt.Printf("%s: %v\n", filepath.Base(f), err)
		case bytes.Equal(got, sent):
			exact++
		case len(got) < len(sent) && bytes.HasSuffix(sent, got):
			late++
			lateBy = append(lateBy, time.Duration(len(sent)-len(got))/2*time.Second/8000)
		case len(got) < len(sent) && bytes.HasPrefix(sent, got):
			short++
		default:
			corrupted++
			diff := 0
			for i := 0; i+1 < min(len(got), len(sent)); i += 2 {
				if got[i] != sent[i] || got[i+1] != sent[i+1] {
					diff++
				}
			}
			fmt.Printf("%s: %d samples (sent %d), %d differ\n", filepath.Base(f), len(got)/2, len(sent)/2, diff)
		}
	}
	fmt.Printf("messages %d (want %d): exact %d, late start %d %v, stopped early %d, corrupted %d; sent %.2f s of audio each\n",
		len(files), *want, exact, late, lateBy, short, corrupted, float64(len(sent)/2)/8000)
	if corrupted > 0 || len(files) < *want {
		os.Exit(1)
	}
}

// natsMessages lists the INBOX recordings of mailbox (mailbox@context) in the voicemail NATS
// store, in message order, and a reader for them.
func natsMessages(url, bucket, mailbox string) ([]string, func(string) ([]byte, error), error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, nil, err
	}
	obj, err := js.ObjectStore(ctx, bucket)
	if err != nil {
		return nil, nil, err
	}
	mb, vmContext, _ := strings.Cut(mailbox, "@")
	key := vmContext + "." + mb
	e, err := kv.Get(ctx, key)
	if err != nil {
		return nil, nil, fmt.Errorf("index %s: %w", key, err)
	}
	var idx map[string][]struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(e.Value(), &idx); err != nil {
		return nil, nil, fmt.Errorf("index %s: %w", key, err)
	}
	var names []string
	for _, m := range idx["INBOX"] {
		names = append(names, key+"/"+m.ID)
	}
	return names, func(name string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return obj.GetBytes(ctx, name)
	}, nil
}
