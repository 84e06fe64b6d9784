package devstate

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/cli"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// Usage texts; "devstate list" and "devstate change" are Asterisk's (funcs/func_devstate.c).
const (
	usageList = "Usage: devstate list\n" +
		"       List all custom device states that have been set by using\n" +
		"       the DEVICE_STATE dialplan function.\n"
	usageChange = "Usage: devstate change <device> <state>\n" +
		"       Change a custom device to a new state.\n" +
		"       The possible values for the state are:\n" +
		"UNKNOWN | NOT_INUSE | INUSE | BUSY | INVALID | UNAVAILABLE | RINGING\n" +
		"RINGINUSE | ONHOLD\n" +
		"\n" +
		"Examples:\n" +
		"       devstate change Custom:mystate1 INUSE\n" +
		"       devstate change Custom:mystate1 NOT_INUSE\n" +
		"       \n"
	usageBench = "Usage: devstate bench <changes> <devices> [prefix]\n" +
		"       Load generator for measurements: sets <changes> states, alternating\n" +
		"       INUSE and NOT_INUSE, over the devices Custom:<prefix>0 .. <devices>-1\n" +
		"       (prefix \"bench\") as this server's own states, as fast as it can, and\n" +
		"       prints the rate. The states are not stored in astdb. The last change of\n" +
		"       every device is NOT_INUSE when <changes>/<devices> is even, else INUSE.\n"
	usageShow = "Usage: devstate show <device>\n" +
		"       Shows the state of a device as each server in the cluster has it\n" +
		"       (by Entity ID), and the cluster-wide aggregate with its extension state.\n" +
		"       An MWI:<mailbox> device is derived by every server from the mailbox's\n" +
		"       cluster-wide counts, so it shows this server's entry only.\n"
)

const rule = "---------------------------------------------------------------------\n"

// Commands returns "devstate list", "devstate change" and "devstate show".
func (e *Engine) Commands() []*cli.Command {
	return []*cli.Command{
		{Words: []string{"devstate", "list"}, Summary: "List currently known custom device states", Usage: usageList,
			Handler: e.cliList},
		{Words: []string{"devstate", "change"}, Summary: "Change a custom device state", Usage: usageChange,
			Handler: e.cliChange, Complete: e.completeChange},
		{Words: []string{"devstate", "show"}, Summary: "Show a device's state per server and cluster-wide", Usage: usageShow,
			Handler: e.cliShow, Complete: e.completeDevice},
		{Words: []string{"devstate", "bench"}, Summary: "Generate device state changes (measurements)", Usage: usageBench,
			Handler: e.cliBench},
	}
}

func (e *Engine) cliBench(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 2 && len(a.Rest) != 3 {
		return cli.ErrUsage
	}
	changes, err1 := strconv.Atoi(a.Rest[0])
	devices, err2 := strconv.Atoi(a.Rest[1])
	if err1 != nil || err2 != nil || changes < 1 || devices < 1 || devices > changes {
		return cli.ErrUsage
	}
	prefix := "bench"
	if len(a.Rest) == 3 {
		prefix = a.Rest[2]
	}
	names := make([]string, devices)
	for i := range names {
		names[i] = fmt.Sprintf("%s%s%d", CustomPrefix, prefix, i)
	}
	start := time.Now()
	for i := 0; i < changes; i++ {
		st := state.InUse
		if (i/devices)%2 == 1 {
			st = state.NotInUse
		}
		if err := e.Set(names[i%devices], st); err != nil {
			fmt.Fprintf(a.Out, "Failed after %d changes: %v\n", i, err)
			return cli.ErrFailed
		}
	}
	d := time.Since(start)
	fmt.Fprintf(a.Out, "Set %d states over %d devices in %s (%.0f changes/s)\n", changes, devices, d.Round(time.Microsecond), float64(changes)/d.Seconds())
	return nil
}

func (e *Engine) cliList(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 0 {
		return cli.ErrUsage
	}
	list, err := e.CustomStates()
	if err != nil {
		fmt.Fprintf(a.Out, "Database unavailable: %v\n", err)
		return cli.ErrFailed
	}
	io.WriteString(a.Out, "\n"+rule+
		"--- Custom Device States --------------------------------------------\n"+
		rule+"---\n")
	for _, c := range list {
		fmt.Fprintf(a.Out, "--- Name: 'Custom:%s'  State: '%s'\n---\n", c.Name, c.Value)
	}
	io.WriteString(a.Out, rule+rule+"\n")
	return nil
}

func (e *Engine) cliChange(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 2 {
		return cli.ErrUsage
	}
	dev, val := a.Rest[0], a.Rest[1]
	name, ok := customName(dev)
	if !ok {
		fmt.Fprintf(a.Out, "The devstate command can only be used to set 'Custom:' device state!\n")
		return cli.ErrFailed
	}
	if name == "" {
		return cli.ErrUsage
	}
	// Asterisk refuses any value it does not know (and, by a quirk, UNKNOWN itself);
	// Pleiades accepts UNKNOWN, which its completion offers.
	if _, ok := state.ParseDevice(val); !ok {
		return cli.ErrUsage
	}
	fmt.Fprintf(a.Out, "Changing %s to %s\n", name, val)
	return e.SetCustom(dev, val)
}

func (e *Engine) completeChange(_ *cli.Args, n int, word string) []string {
	var out []string
	switch n {
	case 0:
		list, _ := e.CustomStates()
		for _, c := range list {
			if d := CustomPrefix + c.Name; strings.HasPrefix(strings.ToLower(d), strings.ToLower(word)) {
				out = append(out, d)
			}
		}
	case 1:
		for _, s := range []state.Device{state.Unknown, state.NotInUse, state.InUse, state.Busy, state.Unavailable, state.Ringing, state.RingInUse, state.OnHold} {
			if strings.HasPrefix(s.String(), strings.ToUpper(word)) {
				out = append(out, s.String())
			}
		}
	}
	return out
}

func (e *Engine) completeDevice(_ *cli.Args, n int, word string) []string {
	if n != 0 {
		return nil
	}
	var out []string
	for _, d := range e.Devices() {
		if strings.HasPrefix(d, word) {
			out = append(out, d)
		}
	}
	return out
}

func (e *Engine) cliShow(_ context.Context, a *cli.Args) error {
	if len(a.Rest) != 1 {
		return cli.ErrUsage
	}
	device := canonical(a.Rest[0])
	w := a.Out
	fmt.Fprintf(w, "Device: %s\n", device)
	per := e.PerEID(device)
	if len(per) == 0 {
		fmt.Fprintf(w, "  No server has a state for this device.\n")
	} else {
		fmt.Fprintf(w, "  %-17s  %-11s  %s\n", "Entity ID", "State", "Text")
		for _, c := range per {
			line := fmt.Sprintf("  %-17s  %-11s  %-11s", c.EID, c.State, c.State.Text())
			if c.Local {
				line += "  (this server)"
			}
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
	st := e.State(device)
	from := "aggregate of 1 server"
	switch {
	case Derived(device) && len(per) == 0:
		from = "no counts for mailbox '" + device[len(MWIPrefix):] + "'"
	case Derived(device):
		from = "derived on this server from mailbox '" + device[len(MWIPrefix):] + "' (not shared)"
	case len(per) == 0 && e.provider(device) != nil:
		from = "from its provider '" + prefixOf(device) + "'"
	case len(per) == 0:
		from = "no provider for this device"
	case len(per) > 1:
		from = fmt.Sprintf("aggregate of %d servers", len(per))
	}
	x := st.Extension()
	fmt.Fprintf(w, "Cluster-wide: %s (%s), %s\n", st, st.Text(), from)
	fmt.Fprintf(w, "Extension state: %s (%d)\n", x, int(x))
	return nil
}
