// Package curltest is a small web service answering res_config_curl's requests from any
// realtime driver: what the curl driver's conformance run, the integration tests and the
// benchmarks talk to. A request for /<table>/<op> runs op on that table of the backend, so one
// server serves every family: "sippeers => curl,http://127.0.0.1:port/sippeers".
//
// The wire format is the one Asterisk's res_config_curl sends and parses: form-encoded
// name=value pairs POSTed (names may carry an operator, "name LIKE"), rows answered one a line
// as encoded pairs, counts as a decimal number, /static?file= answered with category,
// var_name, var_val, cat_metric and var_metric per line.
package curltest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
	"github.com/pleiades-pbx/pleiades/internal/realtime/curl"
)

// Handler serves the curl protocol from backend's database db.
type Handler struct {
	Backend realtime.Driver
	DB      string
}

// ParseForm reads encoded name=value pairs joined by '&', keeping their order (which
// url.ParseQuery does not: the first field is the ORDER BY column of /multi).
func ParseForm(s string) ([]realtime.Field, error) {
	var out []realtime.Field
	for _, pair := range strings.Split(s, "&") {
		if pair == "" {
			continue
		}
		n, v, _ := strings.Cut(pair, "=")
		name, err := curl.Decode(n)
		if err != nil {
			return nil, err
		}
		val, err := curl.Decode(v)
		if err != nil {
			return nil, err
		}
		out = append(out, realtime.Field{Name: name, Value: val})
	}
	return out, nil
}

func encodeRow(b *strings.Builder, r realtime.Row) {
	curl.EncodeFields(b, r)
	b.WriteByte('\n')
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		http.Error(w, "want /<table>/<op>", http.StatusNotFound)
		return
	}
	table, op := path[:i], path[i+1:]
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, err := ParseForm(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	query, err := ParseForm(r.URL.RawQuery)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	var out strings.Builder
	var n int64
	count := true
	switch op {
	case "single":
		count = false
		row, err2 := h.Backend.Load(ctx, h.DB, table, form)
		if err2 == nil {
			encodeRow(&out, row)
		} else if !errors.Is(err2, realtime.ErrNotFound) {
			err = err2
		}
	case "multi":
		count = false
		var rows []realtime.Row
		rows, err = h.Backend.LoadMulti(ctx, h.DB, table, form)
		for _, row := range rows {
			encodeRow(&out, row)
		}
	case "update":
		if len(query) != 1 {
			http.Error(w, "update wants one key field in the query", http.StatusBadRequest)
			return
		}
		n, err = h.Backend.Update(ctx, h.DB, table, query[0].Name, query[0].Value, form)
	case "update2":
		n, err = h.Backend.Update2(ctx, h.DB, table, query, form)
	case "store":
		n, err = h.Backend.Store(ctx, h.DB, table, form)
	case "destroy":
		if len(form) == 0 {
			http.Error(w, "destroy wants a key field", http.StatusBadRequest)
			return
		}
		n, err = h.Backend.Destroy(ctx, h.DB, table, form[0].Name, form[0].Value, form[1:])
	case "require":
		var reqs []realtime.Requirement
		for _, f := range form {
			ty, size, _ := strings.Cut(f.Value, ":")
			sz, _ := strconv.Atoi(size)
			reqs = append(reqs, realtime.Requirement{Name: f.Name, Type: typeOf(ty), Size: sz})
		}
		if h.Backend.Require(ctx, h.DB, table, reqs) != nil {
			n = -1
		}
	case "static":
		count = false
		file := r.URL.Query().Get("file")
		var rows []realtime.StaticRow
		rows, err = h.Backend.StaticLoad(ctx, h.DB, table, file)
		for _, s := range rows {
			fmt.Fprintf(&out, "cat_metric=%d&var_metric=%d&category=%s&var_name=%s&var_val=%s\n",
				s.CatMetric, s.VarMetric, curl.Encode(s.Category), curl.Encode(s.Name), curl.Encode(s.Value))
		}
	default:
		http.Error(w, "unknown operation "+op, http.StatusNotFound)
		return
	}
	switch {
	case errors.Is(err, realtime.ErrUnknownField):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if count {
		out.WriteString(strconv.FormatInt(n, 10) + "\n")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, out.String())
}

func typeOf(s string) realtime.ColumnType {
	switch {
	case s == "char":
		return realtime.TypeChar
	case strings.HasPrefix(s, "uinteger"):
		return realtime.TypeUnsignedInteger
	case strings.HasPrefix(s, "integer"):
		return realtime.TypeInteger
	case s == "float":
		return realtime.TypeFloat
	case s == "date":
		return realtime.TypeDate
	case s == "datetime":
		return realtime.TypeDateTime
	}
	return realtime.TypeChar
}
