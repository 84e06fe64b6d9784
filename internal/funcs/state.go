// Package funcs holds the dialplan functions over the state engines: DEVICE_STATE()
// (func_devstate), EXTENSION_STATE() (func_extstate), HINT() (pbx.c) and VM_INFO()
// (app_voicemail, over the cluster-wide MWI state).
//
// Choices:
//   - DEVICE_STATE(Custom:x)=value refuses a value that is not a device state name, and
//     UNKNOWN, as Asterisk's func_devstate does (its ast_devstate_val reads both as UNKNOWN):
//     the write fails with "DEVICE_STATE function given invalid state value 'v'" (Set() logs
//     it at ERROR, the Manager's Setvar answers "Variable not set") and the state is left as
//     it was. The CLI's `devstate change` still accepts UNKNOWN (package devstate).
//   - EXTENSION_STATE() returns Asterisk's ast_extstate_str names: NOT_INUSE, INUSE, BUSY,
//     UNAVAILABLE, RINGING, RINGINUSE, HOLDINUSE, ONHOLD, UNKNOWN. The context defaults to
//     "default".
//   - HINT(exten[@context][,options]) returns the hint's device list; option "n" returns the
//     hint's presence part (Pleiades keeps no separate hint name).
//   - VM_INFO(mailbox[@context],attribute[,folder]) knows the attributes count (new messages,
//     or old ones with folder "Old"), exists, urgent; mailbox data (email, fullname, ...) comes
//     from the voicemail module, which Pleiades does not have yet: those attributes give "".
package funcs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/mwi"
	"github.com/pleiades-pbx/pleiades/internal/state"
)

// errArgs is returned for missing or wrong arguments (the dialplan logs it).
var errArgs = errors.New("wrong arguments")

// Register adds the state functions to the dialplan engine dp (none of them escalates:
// DEVICE_STATE's write sets Custom: states, which the Manager's Setvar and ARI offer anyway).
// EXTENSION_STATE() and HINT() find a hint as a call would, through includes and patterns
// (hint.Engine.Resolve, with the dialplan's lookup as its Finder).
func Register(dp *dialplan.Engine, ds *devstate.Engine, hints *hint.Engine, mb *mwi.Engine) {
	dp.RegisterFunction(&dialplan.Function{
		Name:     "DEVICE_STATE",
		Synopsis: "Get or Set a device state.",
		Read: func(_ context.Context, _ *dialplan.Channel, args string) (string, error) {
			dev := strings.TrimSpace(args)
			if dev == "" {
				return "", fmt.Errorf("DEVICE_STATE: %w: a device name is required", errArgs)
			}
			return ds.State(dev).String(), nil
		},
		Write: func(_ context.Context, _ *dialplan.Channel, args, value string) error {
			return writeDeviceState(ds, strings.TrimSpace(args), strings.TrimSpace(value))
		},
	})
	dp.RegisterFunction(&dialplan.Function{
		Name:     "EXTENSION_STATE",
		Synopsis: "Get an extension's state.",
		Read: func(_ context.Context, _ *dialplan.Channel, args string) (string, error) {
			exten, cntx := splitExten(args)
			if exten == "" {
				return "", fmt.Errorf("EXTENSION_STATE: %w: an extension is required", errArgs)
			}
			h, ok := hints.Resolve(exten, cntx)
			if !ok {
				return "UNKNOWN", nil
			}
			return h.State.Name(), nil
		},
	})
	dp.RegisterFunction(&dialplan.Function{
		Name:     "HINT",
		Synopsis: "Get the devices set for a dialplan hint.",
		Read: func(_ context.Context, _ *dialplan.Channel, args string) (string, error) {
			target, opts, _ := strings.Cut(args, ",")
			exten, cntx := splitExten(target)
			if exten == "" {
				return "", fmt.Errorf("HINT: %w: an extension is required", errArgs)
			}
			h, ok := hints.Resolve(exten, cntx)
			if !ok {
				return "", nil
			}
			if strings.Contains(opts, "n") {
				return h.Presence, nil
			}
			return h.Devices, nil
		},
	})
	dp.RegisterFunction(&dialplan.Function{
		Name:     "VM_INFO",
		Synopsis: "Returns the selected attribute from a mailbox.",
		Read: func(_ context.Context, _ *dialplan.Channel, args string) (string, error) {
			parts := strings.Split(args, ",")
			if len(parts) < 2 || strings.TrimSpace(parts[0]) == "" {
				return "", fmt.Errorf("VM_INFO: %w: VM_INFO(mailbox[@context],attribute[,folder])", errArgs)
			}
			st, ok := mb.Get(strings.TrimSpace(parts[0]))
			folder := ""
			if len(parts) > 2 {
				folder = strings.ToLower(strings.TrimSpace(parts[2]))
			}
			switch strings.ToLower(strings.TrimSpace(parts[1])) {
			case "exists":
				if ok {
					return "1", nil
				}
				return "0", nil
			case "count":
				if !ok {
					return "0", nil
				}
				if folder == "old" {
					return strconv.Itoa(st.Old), nil
				}
				if folder == "urgent" {
					return strconv.Itoa(st.Urgent), nil
				}
				return strconv.Itoa(st.New), nil
			case "urgent":
				if !ok {
					return "0", nil
				}
				return strconv.Itoa(st.Urgent), nil
			case "email", "fullname", "language", "locale", "pager", "password", "tz":
				return "", nil
			}
			return "", fmt.Errorf("VM_INFO: %w: unknown attribute %q", errArgs, parts[1])
		},
	})
}

// writeDeviceState is DEVICE_STATE(device)=value, with func_devstate's checks in its order: a
// device other than "Custom:NAME" (devstate.ErrNotCustom, ErrNoCustomName), then a value that
// is not a state name, or is UNKNOWN (Asterisk's ast_devstate_val answers UNKNOWN for both),
// refused: the state is left as it was.
func writeDeviceState(ds *devstate.Engine, device, value string) error {
	if len(device) <= len(devstate.CustomPrefix) || !strings.EqualFold(device[:len(devstate.CustomPrefix)], devstate.CustomPrefix) {
		return ds.SetCustom(device, value)
	}
	if st, ok := state.ParseDevice(value); !ok || st == state.Unknown {
		return fmt.Errorf("DEVICE_STATE function given invalid state value '%s'", value)
	}
	return ds.SetCustom(device, value)
}

func splitExten(s string) (exten, cntx string) {
	exten, cntx, _ = strings.Cut(strings.TrimSpace(s), "@")
	if cntx == "" {
		cntx = "default"
	}
	return exten, cntx
}
