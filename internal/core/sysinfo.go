package core

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
)

// sysInfo is what "core show sysinfo" prints, in KiB: Linux's sysinfo(2) figures, converted
// as main/asterisk.c's handle_show_sysinfo converts them.
type sysInfo struct {
	UptimeHours                  int64
	TotalRAM, FreeRAM, BufferRAM uint64
	TotalSwap, FreeSwap          uint64
	Procs                        int
}

// writeSysinfo prints Asterisk's layout (the trailing space after the process count is
// Asterisk's).
func writeSysinfo(w io.Writer, si sysInfo) {
	fmt.Fprintf(w, "\nSystem Statistics\n")
	fmt.Fprintf(w, "-----------------\n")
	fmt.Fprintf(w, "  System Uptime:             %d hours\n", si.UptimeHours)
	fmt.Fprintf(w, "  Total RAM:                 %d KiB\n", si.TotalRAM)
	fmt.Fprintf(w, "  Free RAM:                  %d KiB\n", si.FreeRAM)
	fmt.Fprintf(w, "  Buffer RAM:                %d KiB\n", si.BufferRAM)
	fmt.Fprintf(w, "  Total Swap Space:          %d KiB\n", si.TotalSwap)
	fmt.Fprintf(w, "  Free Swap Space:           %d KiB\n\n", si.FreeSwap)
	fmt.Fprintf(w, "  Number of Processes:       %d \n\n", si.Procs)
}

func (s *Server) cmdShowSysinfo(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	si, err := readSysinfo()
	if err != nil {
		fmt.Fprintf(a.Out, "System information unavailable: %v\n", err)
		return cli.ErrFailed
	}
	writeSysinfo(a.Out, si)
	return nil
}

// writeCalls prints Asterisk's call counters (main/cli.c; Pleiades has no maxcalls limit,
// so the "N of M max active calls" form never appears).
func writeCalls(w io.Writer, active, processed int) {
	fmt.Fprintf(w, "%d active call%s\n", active, ess(active))
	fmt.Fprintf(w, "%d call%s processed\n", processed, ess(processed))
}

func ess(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// cmdShowChannelsCount is "core show channels count". The channels are the real call legs
// (incoming and outgoing) and the dialplan's console and Local channels; the calls are the
// channels running a dialplan (every CallCounter's), as Asterisk counts its PBX threads.
func (s *Server) cmdShowChannelsCount(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	active := s.ActiveCalls()
	chans := active
	if s.Dialplan != nil {
		chans = s.Dialplan.ActiveChannels()
	}
	fmt.Fprintf(a.Out, "%d active channel%s\n", chans, ess(chans))
	writeCalls(a.Out, active, s.ProcessedCalls())
	return nil
}

// cmdShowCalls is "core show calls [uptime [seconds]]".
func (s *Server) cmdShowCalls(_ context.Context, a *cli.Args) error {
	uptime, secs := false, false
	switch {
	case len(a.Rest) == 0:
	case len(a.Rest) == 1 && strings.EqualFold(a.Rest[0], "uptime"):
		uptime = true
	case len(a.Rest) == 2 && strings.EqualFold(a.Rest[0], "uptime") && strings.EqualFold(a.Rest[1], "seconds"):
		uptime, secs = true, true
	default:
		return cli.ErrUsage
	}
	writeCalls(a.Out, s.ActiveCalls(), s.ProcessedCalls())
	if uptime {
		up := time.Since(s.Started)
		if secs {
			fmt.Fprintf(a.Out, "System uptime: %d\n", int64(up.Seconds()))
		} else {
			fmt.Fprintf(a.Out, "System uptime: %s\n", FormatDuration(up))
		}
	}
	return nil
}
