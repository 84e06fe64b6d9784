package dialplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/media"
)

func init() {
	builtins.apps.put("Record", &App{Name: "Record", Synopsis: "Record to a file", Exec: appRecord})
}

// recordSilenceThreshold is Asterisk's dsp.conf silencethreshold default, which Record uses.
const recordSilenceThreshold = 256

// appRecord is Record(filename.format[,silence[,maxduration[,options]]]): the caller's audio
// to a file (format wav, or sln/raw: 16-bit 8 kHz linear) until '#' ('*' with option t, any
// digit with y, none with x), silence seconds of silence, maxduration seconds, or the hangup.
// A name without a leading '/' is under the sounds directory (Asterisk's astdatadir/sounds);
// "%d" in it becomes the first number that makes a new file. Options: n do not answer, s skip
// when the leg is not up, q no beep, k keep the file when the caller hangs up (deleted
// otherwise). RECORD_STATUS: DTMF, SILENCE, TIMEOUT, HANGUP, SKIP or ERROR; RECORDED_FILE is
// the name without its format.
func appRecord(ctx context.Context, ch *Channel, data string) error {
	args := splitArgs(data, ',')
	arg := func(i int) string {
		if i < len(args) {
			return strings.TrimSpace(args[i])
		}
		return ""
	}
	spec, opts := arg(0), arg(3)
	dot := strings.LastIndexByte(spec, '.')
	if spec == "" || dot <= 0 || dot == len(spec)-1 {
		ch.logf(slog.LevelWarn, "No extension specified to filename!")
		ch.SetVar("RECORD_STATUS", "ERROR")
		return nil
	}
	name, format := spec[:dot], strings.ToLower(spec[dot+1:])
	if format != "wav" && format != "sln" && format != "raw" {
		ch.logf(slog.LevelWarn, "Unable to write file format '%s' (Pleiades records wav, sln, raw)", format)
		ch.SetVar("RECORD_STATUS", "ERROR")
		return nil
	}
	silence, _ := strconv.Atoi(arg(1))
	maxDur, _ := strconv.Atoi(arg(2))
	if ch.leg == nil || ch.leg.Media() == nil {
		ch.SetVar("RECORD_STATUS", "ERROR")
		return nil
	}
	if ch.leg.State() != channel.Up {
		switch {
		case strings.Contains(opts, "s"):
			ch.SetVar("RECORD_STATUS", "SKIP")
			return nil
		case !strings.Contains(opts, "n"):
			if err := ch.leg.Answer(ctx); err != nil {
				return ErrHangup
			}
		}
	}
	ch.ResetSteps()
	if !filepath.IsAbs(name) {
		dir := ""
		if ch.engine != nil {
			dir = ch.engine.SoundsDir()
		}
		name = filepath.Join(dir, name)
	}
	if strings.Contains(name, "%d") {
		for i := 0; ; i++ {
			try := strings.Replace(name, "%d", strconv.Itoa(i), 1)
			if _, err := os.Stat(try + "." + format); errors.Is(err, os.ErrNotExist) {
				name = try
				break
			}
		}
	}
	stop := "#"
	switch {
	case strings.Contains(opts, "x"):
		stop = ""
	case strings.Contains(opts, "y"):
		stop = "0123456789*#ABCD"
	case strings.Contains(opts, "t"):
		stop = "*"
	}
	if !strings.Contains(opts, "q") {
		if err := ch.playOne(ctx, "beep"); err != nil && ctx.Err() != nil {
			ch.SetVar("RECORD_STATUS", "HANGUP")
			return ErrHangup
		}
	}
	ch.verbosef(3, "<%s> Recording %s.%s", ch.Name, name, format)
	rec, err := ch.leg.Media().Record(ctx, media.RecordOptions{
		Stop: stop, MaxDuration: time.Duration(maxDur) * time.Second,
		MaxSilence: time.Duration(silence) * time.Second, SilenceThreshold: recordSilenceThreshold,
	})
	// The stop digit is the recording's, not the next application's.
	for drained := false; !drained; {
		select {
		case <-ch.leg.Frames():
		default:
			drained = true
		}
	}
	if err != nil {
		ch.logf(slog.LevelWarn, "Record failed on %s: %s", ch.Name, err)
		ch.SetVar("RECORD_STATUS", "ERROR")
		return nil
	}
	status := map[media.RecordEnd]string{media.EndDTMF: "DTMF", media.EndSilence: "SILENCE", media.EndMaxDuration: "TIMEOUT", media.EndHangup: "HANGUP"}[rec.End]
	ch.SetVar("RECORDED_FILE", name)
	if rec.End == media.EndHangup && !strings.Contains(opts, "k") {
		ch.SetVar("RECORD_STATUS", status)
		return ErrHangup
	}
	if err := writeRecording(name+"."+format, format, rec.PCM); err != nil {
		ch.logf(slog.LevelWarn, "Could not create file %s.%s: %s", name, format, err)
		ch.SetVar("RECORD_STATUS", "ERROR")
		return nil
	}
	ch.SetVar("RECORD_STATUS", status)
	if rec.End == media.EndHangup {
		return ErrHangup
	}
	return nil
}

// writeRecording writes the samples as format (wav: with its header) through a temporary file.
func writeRecording(path, format string, pcm []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if format == "wav" {
		err = media.WriteWAV(f, pcm)
	} else {
		_, err = f.Write(pcm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w", err)
	}
	return nil
}
