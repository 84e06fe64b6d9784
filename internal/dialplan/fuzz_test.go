package dialplan

import (
	"context"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// FuzzLoad feeds arbitrary text through conf.Parse and Build, then looks a few extensions
// up and renders `dialplan show`: none of it may panic or hang.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		includesConf,
		"[c]\nexten => _X.,1,NoOp()\nexten => _[,1,NoOp()\nexten => _[]!,hint,SIP/a\n",
		"[c]\nexten => 1/_2X,1,Goto(1)\nsame => n(l),Set(A=${B})\ninclude => c,*,*,*,*,Bad/Zone\n",
		"[c]\nsame => n,NoOp\nexten => x,n,NoOp\nexten => x,label,NoOp\nexten => y,1+3,NoOp\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := conf.Parse("extensions.conf", data, conf.Options{})
		if err != nil || cfg == nil {
			return
		}
		dp, _ := Build(cfg, nil)
		e := New(nil, nil)
		e.dp.Store(dp)
		ctx := context.Background()
		for _, c := range dp.Contexts() {
			for _, x := range []string{"s", "1", "123", "", "_X."} {
				e.Exists(ctx, c.Name, x, 1, "5551212")
				e.CanMatch(ctx, c.Name, x, 1, "")
				e.MatchMore(ctx, c.Name, x, 1, "")
			}
		}
		var sb discard
		ShowDialplan(&sb, dp, "", "")
		ShowDialplan(&sb, dp, "1", "")
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
