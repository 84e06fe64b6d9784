package moh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/channel"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
	"github.com/pleiades-pbx/pleiades/internal/dialplan/expr"
)

// Register adds MusicOnHold, StartMusicOnHold and StopMusicOnHold to e and makes r what
// plays music on hold on e's channel registry (Dial's m option, a held party in a bridge)
// when e has one.
func (r *Registry) Register(e *dialplan.Engine) {
	e.RegisterApp(&dialplan.App{Name: "MusicOnHold", Synopsis: "Play Music On Hold indefinitely.", Exec: r.appMusicOnHold})
	e.RegisterApp(&dialplan.App{Name: "StartMusicOnHold", Synopsis: "Play Music On Hold.", Exec: r.appStart})
	e.RegisterApp(&dialplan.App{Name: "StopMusicOnHold", Synopsis: "Stop playing Music On Hold.", Exec: r.appStop})
	if reg := e.Channels(); reg != nil {
		reg.SetMusicOnHold(r)
	}
}

// Unregister removes what Register added.
func (r *Registry) Unregister(e *dialplan.Engine) {
	for _, n := range []string{"MusicOnHold", "StartMusicOnHold", "StopMusicOnHold"} {
		e.UnregisterApp(n)
	}
	if reg := e.Channels(); reg != nil && reg.MusicOnHold() == r {
		reg.SetMusicOnHold(nil)
	}
}

func args(data string) []string {
	a := expr.SplitArgs(data, ',')
	for i := range a {
		a[i] = strings.TrimSpace(a[i])
	}
	return a
}

// appMusicOnHold is MusicOnHold([class[,duration]]) (play_moh_exec): music on hold for
// duration seconds (none, 0 or invalid: until the hangup), then the dialplan goes on. A
// channel not answered is not answered (it gets early media). The caller's digit that is
// a class's digit= switches to that class. When no music can start it
// warns and goes on at once, as Asterisk. On a channel without media (console, Local) it
// waits the duration in silence.
func (r *Registry) appMusicOnHold(ctx context.Context, ch *dialplan.Channel, data string) error {
	a := args(data)
	class, dur := "", time.Duration(0)
	if len(a) > 0 {
		class = a[0]
	}
	if len(a) > 1 && a[1] != "" {
		n, err := leadingInt(a[1])
		if err != nil {
			ch.Log(slog.LevelWarn, fmt.Sprintf("Invalid MusicOnHold duration '%s'. Will wait indefinitely.", a[1]))
		} else if n > 0 {
			dur = time.Duration(n) * time.Second
		}
	}
	ch.ResetSteps()
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if dur > 0 {
		pctx, cancel = context.WithTimeout(ctx, dur)
	}
	defer cancel()
	leg := ch.Leg()
	var p *player
	var err error
	if leg == nil {
		err = ErrNoMedia
	} else {
		var c *Class
		if c, err = r.appClass(leg, class); err == nil {
			p, err = r.begin(pctx, leg, c)
		}
	}
	if err != nil && !errors.Is(err, ErrNoMedia) {
		ch.Log(slog.LevelWarn, fmt.Sprintf("Unable to start music on hold class '%s' on channel %s", class, ch.Name))
		return nil
	}
	if p == nil {
		// No media: the time passes in silence.
		<-pctx.Done()
	} else {
		// The music plays until the duration or the hangup; a digit a class has as digit=
		// switches to that class (res_musiconhold's moh_handle_digit). Music stopped from
		// elsewhere (StopMOH) leaves the time to pass, as Asterisk's ast_safe_sleep goes on
		// whatever the music does.
		done := p.done
	wait:
		for {
			select {
			case <-pctx.Done():
				break wait
			case <-done:
				done = nil
			case f := <-leg.Frames():
				if f.Kind == channel.FrameDTMFEnd {
					if np := r.digit(pctx, leg, f.Digit); np != nil {
						p, done = np, np.done
					}
				}
			}
		}
		<-p.done
	}
	if ctx.Err() != nil {
		return dialplan.ErrHangup
	}
	return nil
}

// digit switches leg's music to the class whose digit= is d, making it the channel's class
// (moh_handle_digit); nil when no class has that digit.
func (r *Registry) digit(ctx context.Context, leg *channel.Channel, d rune) *player {
	for _, c := range r.cfg.Load().Classes {
		if c.Digit != 0 && rune(c.Digit) == d {
			leg.SetMusicClass(c.Name)
			p, err := r.begin(ctx, leg, c)
			if err != nil {
				return nil
			}
			return p
		}
	}
	return nil
}

// appStart is StartMusicOnHold([class]): music in the background while the dialplan goes
// on, until StopMusicOnHold, a bridge (Dial's answer) or the hangup.
func (r *Registry) appStart(ctx context.Context, ch *dialplan.Channel, data string) error {
	a := args(data)
	class := ""
	if len(a) > 0 {
		class = a[0]
	}
	leg := ch.Leg()
	var err error
	if leg == nil {
		err = ErrNoMedia
	} else {
		var c *Class
		if c, err = r.appClass(leg, class); err == nil {
			_, err = r.begin(r.base, leg, c)
		}
	}
	if err != nil {
		ch.Log(slog.LevelWarn, fmt.Sprintf("Unable to start music on hold class '%s' on channel %s", class, ch.Name))
	}
	return nil
}

// appStop is StopMusicOnHold().
func (r *Registry) appStop(ctx context.Context, ch *dialplan.Channel, data string) error {
	if leg := ch.Leg(); leg != nil {
		r.StopMOH(leg)
	}
	return nil
}

// leadingInt reads the integer a string starts with, as sscanf("%d") (Asterisk reads the
// duration so: "1.5" is 1).
func leadingInt(s string) (int, error) {
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	return strconv.Atoi(s[:end])
}
