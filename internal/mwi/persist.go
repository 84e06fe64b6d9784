package mwi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/event"
)

// Family is the astdb family that keeps this server's mailbox counts: Asterisk's
// res_mwi_external keeps its external MWI mailboxes there (sorcery's astdb wizard, prefix
// "mwi_external", object type "mailboxes"), one key per mailbox.
const Family = "mwi_external/mailboxes"

// persistWindow gathers mailbox writes, as devstate does for Custom states.
const persistWindow = 20 * time.Millisecond

// stored is the value of a mailbox's key: Asterisk's object set as JSON, numbers as strings
// ({"msgs_new":"2","msgs_old":"5"}), with two fields Asterisk ignores: the urgent count when
// there is one, and the time of the update, so that after a restart a newer update made
// elsewhere in the cluster still wins.
type stored struct {
	New     string `json:"msgs_new"`
	Old     string `json:"msgs_old"`
	Urgent  string `json:"msgs_urgent,omitempty"`
	Updated string `json:"pleiades_updated,omitempty"`
}

func encodeStored(m event.MWI) string {
	v := stored{New: strconv.Itoa(m.New), Old: strconv.Itoa(m.Old), Updated: m.Time.UTC().Format(time.RFC3339Nano)}
	if m.Urgent != 0 {
		v.Urgent = strconv.Itoa(m.Urgent)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// decodeStored reads a stored value; counts may be JSON strings or numbers, a missing one is
// 0 (as sorcery's defaults). ok is false for a value that is not such an object or holds a
// count that is not a number of zero or more.
func decodeStored(s string) (newMsgs, oldMsgs, urgent int, updated time.Time, ok bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return 0, 0, 0, time.Time{}, false
	}
	count := func(k string) (int, bool) {
		r, present := raw[k]
		if !present {
			return 0, true
		}
		text := strings.Trim(string(r), `"`)
		n, err := strconv.Atoi(strings.TrimSpace(text))
		return n, err == nil && n >= 0
	}
	var okN, okO, okU bool
	newMsgs, okN = count("msgs_new")
	oldMsgs, okO = count("msgs_old")
	urgent, okU = count("msgs_urgent")
	if r, present := raw["pleiades_updated"]; present {
		var t string
		if json.Unmarshal(r, &t) == nil {
			updated, _ = time.Parse(time.RFC3339Nano, t)
		}
	}
	return newMsgs, oldMsgs, urgent, updated, okN && okO && okU
}

// restore publishes the mailboxes kept in astdb as this server's counts, with the time of
// their update (now for entries without one, e.g. written by Asterisk), and returns how many.
func (e *Engine) restore() (int, error) {
	entries, err := e.db.Family(Family)
	if err != nil {
		return 0, fmt.Errorf("mwi: reading %s from astdb: %w", Family, err)
	}
	n := 0
	for _, en := range entries {
		mb, err := Normalize(en.Key)
		if err != nil {
			continue
		}
		nw, o, u, t, ok := decodeStored(en.Value)
		if !ok {
			e.log.Warn(fmt.Sprintf("Mailbox '%s' in astdb family %s has invalid counts '%s': ignored", en.Key, Family, en.Value))
			continue
		}
		if t.IsZero() {
			t = e.tick()
		} else {
			e.observe(t)
		}
		e.bus.Publish(event.MWI{Mailbox: mb, New: nw, Old: o, Urgent: u, Time: t, EID: e.local})
		n++
	}
	return n, nil
}
