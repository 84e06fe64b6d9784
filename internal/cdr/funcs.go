package cdr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
)

// Register adds CDR(), CHANNEL(accountcode|amaflags), NoCDR and ResetCDR to a dialplan
// engine, acting on e's records of the channel's leg.
func Register(dp *dialplan.Engine, e *Engine) {
	dp.OnApp(e.App)
	uid := func(ch *dialplan.Channel) (string, error) {
		if ch.Leg() == nil {
			return "", ErrNoCDR
		}
		return ch.Leg().UniqueID(), nil
	}
	dp.RegisterFunction(&dialplan.Function{Name: "CDR", Synopsis: "Gets or sets a CDR variable.",
		Read: func(_ context.Context, ch *dialplan.Channel, args string) (string, error) {
			id, err := uid(ch)
			if err != nil {
				return "", err
			}
			name, _, _ := strings.Cut(args, ",")
			return e.Get(id, strings.TrimSpace(name))
		},
		Write: func(_ context.Context, ch *dialplan.Channel, args, value string) error {
			id, err := uid(ch)
			if err != nil {
				return err
			}
			name, _, _ := strings.Cut(args, ",")
			name = strings.TrimSpace(name)
			if strings.EqualFold(name, "accountcode") {
				// Asterisk 12+: the channel's account code, which its records follow.
				ch.Leg().SetAccountCode(value)
			}
			return e.Set(id, name, value)
		}})
	// CHANNEL(): accountcode, peeraccount and amaflags here, every other item the
	// dialplan's own CHANNEL() (musicclass, language, name...).
	base := dp.LookupFunction("CHANNEL")
	dp.RegisterFunction(&dialplan.Function{Name: "CHANNEL", Synopsis: "Gets/sets various pieces of information about the channel.",
		Read: func(ctx context.Context, ch *dialplan.Channel, args string) (string, error) {
			switch item := strings.ToLower(strings.TrimSpace(args)); item {
			case "accountcode", "peeraccount", "amaflags":
				id, err := uid(ch)
				if err != nil {
					return "", err
				}
				switch item {
				case "accountcode":
					return ch.Leg().Snapshot().AccountCode, nil
				case "peeraccount":
					return e.Get(id, item)
				}
				v, err := e.Get(id, item)
				return fmt.Sprint(ParseAMA(v)), err
			}
			if base != nil && base.Read != nil {
				return base.Read(ctx, ch, args)
			}
			return "", fmt.Errorf("CHANNEL: unknown or unsupported item %q", args)
		},
		Write: func(ctx context.Context, ch *dialplan.Channel, args, value string) error {
			switch item := strings.ToLower(strings.TrimSpace(args)); item {
			case "accountcode", "amaflags":
				id, err := uid(ch)
				if err != nil {
					return err
				}
				if item == "accountcode" {
					ch.Leg().SetAccountCode(value)
				}
				return e.Set(id, item, value)
			}
			if base != nil && base.Write != nil {
				return base.Write(ctx, ch, args, value)
			}
			return fmt.Errorf("CHANNEL: unknown or unsupported item %q", args)
		}})
	dp.RegisterApp(&dialplan.App{Name: "NoCDR", Synopsis: "Tell Asterisk to not maintain a CDR for this channel.",
		Exec: func(_ context.Context, ch *dialplan.Channel, _ string) error {
			if id, err := uid(ch); err == nil {
				e.Disable(id)
			}
			return nil
		}})
	dp.RegisterApp(&dialplan.App{Name: "ForkCDR", Synopsis: "Forks the current Call Data Record for this channel.",
		Exec: func(_ context.Context, ch *dialplan.Channel, data string) error {
			if id, err := uid(ch); err == nil {
				e.Fork(id, strings.Contains(data, "r") && !strings.Contains(data, "v"))
			}
			return nil
		}})
	dp.RegisterFunction(&dialplan.Function{Name: "CDR_PROP", Synopsis: "Set a property on a channel's CDR.",
		Write: func(_ context.Context, ch *dialplan.Channel, args, value string) error {
			id, err := uid(ch)
			if err != nil {
				return err
			}
			switch strings.ToLower(strings.TrimSpace(args)) {
			case "disable":
				e.SetDisabled(id, conf.IsTrue(value))
				return nil
			case "party_a":
				return nil // a channel is always party A of its own records here
			}
			return fmt.Errorf("CDR_PROP: unknown property %q", args)
		}})
	dp.RegisterApp(&dialplan.App{Name: "ResetCDR", Synopsis: "Resets the Call Data Record.",
		Exec: func(_ context.Context, ch *dialplan.Channel, data string) error {
			id, err := uid(ch)
			if errors.Is(err, ErrNoCDR) {
				return nil
			}
			e.Reset(id, strings.Contains(data, "v"))
			return nil
		}})
}
