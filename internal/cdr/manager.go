package cdr

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/ami"
	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Publisher is where cdr_manager sends its events (the AMI server).
type Publisher interface{ Publish(ami.Event) }

// Manager is cdr_manager: an AMI "Cdr" event (class cdr) a record, with Asterisk's
// fields, then "label: ${CDR(var)}" for each [mappings] line.
type Manager struct {
	AMI      Publisher
	Mappings [][2]string // CDR variable, label
}

// ParseManager reads cdr_manager.conf: whether [general] enabled is on, and [mappings].
func ParseManager(cfg *conf.Config) (enabled bool, mappings [][2]string, err error) {
	if cfg == nil {
		return false, nil, nil
	}
	enabled, err = cfg.Category("general").Bool("enabled", false)
	if m := cfg.Category("mappings"); m != nil {
		for _, v := range m.Vars {
			mappings = append(mappings, [2]string{v.Name, strings.TrimSpace(v.Value)})
		}
	}
	return enabled, mappings, err
}

// Name is the backend's name as Asterisk's "cdr show status" lists it.
func (*Manager) Name() string { return "cdr_manager" }

// Event is the AMI event of a record.
func (m *Manager) Event(r *Record) ami.Event {
	f := []ami.Field{
		{Key: "AccountCode", Value: r.AccountCode},
		{Key: "Source", Value: r.Src},
		{Key: "Destination", Value: r.Dst},
		{Key: "DestinationContext", Value: r.DContext},
		{Key: "CallerID", Value: r.CLID},
		{Key: "Channel", Value: r.Channel},
		{Key: "DestinationChannel", Value: r.DstChannel},
		{Key: "LastApplication", Value: r.LastApp},
		{Key: "LastData", Value: r.LastData},
		{Key: "StartTime", Value: formatLocal(r.Start)},
		{Key: "AnswerTime", Value: formatLocal(r.Answer)},
		{Key: "EndTime", Value: formatLocal(r.End)},
		{Key: "Duration", Value: strconv.FormatInt(r.Duration(), 10)},
		{Key: "BillableSeconds", Value: strconv.FormatInt(r.Billsec(false), 10)},
		{Key: "Disposition", Value: r.Disposition.String()},
		{Key: "AMAFlags", Value: AMAString(r.AMAFlags)},
		{Key: "UniqueID", Value: r.UniqueID},
		{Key: "UserField", Value: r.UserField},
	}
	for _, mp := range m.Mappings {
		v, _ := r.Field(mp[0], false)
		f = append(f, ami.Field{Key: mp[1], Value: v})
	}
	return ami.Event{Name: "Cdr", Class: ami.ClassCDR, Fields: f}
}

func formatLocal(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return FormatTime(t.Local())
}

// Write publishes one event a record; AMI never blocks, so it never fails.
func (m *Manager) Write(_ context.Context, recs []*Record) error {
	for _, r := range recs {
		m.AMI.Publish(m.Event(r))
	}
	return nil
}
