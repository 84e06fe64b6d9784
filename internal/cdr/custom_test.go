package cdr

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pleiades-pbx/pleiades/internal/conf"
	"github.com/pleiades-pbx/pleiades/internal/dialplan"
)

func TestCustom(t *testing.T) {
	dp := dialplan.New(nil, nil)
	defer dp.Close()
	dir := filepath.Join(t.TempDir(), "cdr-custom")
	text := "[mappings]\nMaster.csv => ${CSV_QUOTE(${CDR(clid)})},${CDR(src)},${CDR(disposition)},${LEN(${CDR(dst)})},${CDR(billsec)},${rate}\n"
	cfg, err := conf.Parse("cdr_custom.conf", []byte(text), conf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCustom(cfg, dir, dp)
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRecord()
	r.Vars = map[string]string{"rate": "0.02"}
	if err := c.Write(context.Background(), []*Record{r}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "Master.csv"))
	if want := `"""Alice"" <100>",100,ANSWERED,3,12,0.02` + "\n"; string(b) != want {
		t.Fatalf("line %q, want %q", b, want)
	}
	bad := "[mappings]\nok.csv => ${CDR(src)}\nbad.csv => ${NOSUCH(${CDR(src)})}\n../x.csv => x\n"
	cfg, _ = conf.Parse("cdr_custom.conf", []byte(bad), conf.Options{})
	_, err = ParseCustom(cfg, dir, dp)
	if err == nil || !strings.Contains(err.Error(), "cdr_custom.conf:3: ") || !strings.Contains(err.Error(), "NOSUCH") ||
		!strings.Contains(err.Error(), "cdr_custom.conf:4: ") {
		t.Fatalf("error %v", err)
	}
}
