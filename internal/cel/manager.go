package cel

import (
	"strconv"

	"github.com/pleiades-pbx/pleiades/internal/ami"
)

// ManagerSink is cel_manager: each event as an AMI "CEL" event (class cdr) with Asterisk's
// fields; dateformat formats EventTime.
func ManagerSink(pub interface{ Publish(ami.Event) }, dateformat func() string) Sink {
	return func(x Event) {
		pub.Publish(ami.Event{Name: "CEL", Class: ami.ClassCDR, Fields: []ami.Field{
			{Key: "EventName", Value: x.Type},
			{Key: "AccountCode", Value: x.AccountCode},
			{Key: "CallerIDnum", Value: x.CIDNum},
			{Key: "CallerIDname", Value: x.CIDName},
			{Key: "CallerIDani", Value: x.CIDANI},
			{Key: "CallerIDrdnis", Value: x.CIDRDNIS},
			{Key: "CallerIDdnid", Value: x.CIDDNID},
			{Key: "Exten", Value: x.Exten},
			{Key: "Context", Value: x.Context},
			{Key: "Channel", Value: x.Channel},
			{Key: "Application", Value: x.AppName},
			{Key: "AppData", Value: x.AppData},
			{Key: "EventTime", Value: FormatTime(x.Time, dateformat())},
			{Key: "AMAFlags", Value: amaString(x.AMAFlags)},
			{Key: "UniqueID", Value: x.UniqueID},
			{Key: "LinkedID", Value: x.LinkedID},
			{Key: "Userfield", Value: x.UserField},
			{Key: "Peer", Value: x.Peer},
			{Key: "PeerAccount", Value: x.PeerAccount},
			{Key: "Extra", Value: x.Extra},
		}})
	}
}

func amaString(f int) string {
	switch f {
	case 1:
		return "OMIT"
	case 2:
		return "BILLING"
	case 3:
		return "DOCUMENTATION"
	}
	return "Unknown (" + strconv.Itoa(f) + ")"
}
