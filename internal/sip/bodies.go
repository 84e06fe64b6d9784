package sip

import (
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/state"
)

// NOTIFY bodies: dialog-info+xml, pidf+xml and simple-message-summary as chan_sip writes them.

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

// dialogInfoBody is chan_sip's dialog-info+xml (RFC 4235) for an extension state: entity (and
// the target of a held dialog) is the SUBSCRIBE's To URI without its parameters, the dialog id
// the extension.
func dialogInfoBody(version int, exten, entity string, st state.Extension) []byte {
	return appendDialogInfo(make([]byte, 0, 400), version, xmlEscaper.Replace(exten), xmlEscaper.Replace(entity), st)
}

// appendDialogInfo appends dialogInfoBody's text, exten and entity already XML-escaped.
// (Appends, not fmt: it is built once per subscriber on every hint change.)
func appendDialogInfo(b []byte, version int, e, entity string, st state.Extension) []byte {
	statestring, hold, early := "terminated", false, false
	switch { // removed and deactivated hints have no flags: terminated
	case st.Has(state.ExtRinging):
		statestring, early = "early", true
	case st.Has(state.ExtOnHold):
		statestring, hold = "confirmed", true
	case st.Has(state.ExtInUse), st.Has(state.ExtBusy):
		statestring = "confirmed"
	}
	b = append(b, "<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\""...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, "\" state=\"full\" entity=\""...)
	b = append(b, entity...)
	b = append(b, "\">\n<dialog id=\""...)
	b = append(b, e...)
	if early {
		b = append(b, "\" direction=\"recipient"...)
	}
	b = append(b, "\">\n<state>"...)
	b = append(b, statestring...)
	b = append(b, "</state>\n"...)
	if hold {
		b = append(b, "<local>\n<target uri=\""...)
		b = append(b, entity...)
		b = append(b, "\">\n<param pname=\"+sip.rendering\" pvalue=\"no\"/>\n</target>\n</local>\n"...)
	}
	b = append(b, "</dialog>\n</dialog-info>\n"...)
	return b
}

// pidfBody is chan_sip's pidf+xml (RFC 3863) for an extension state: entity is the
// subscriber's From URI, contact the SUBSCRIBE's To URI (both without their parameters), the
// tuple id the extension.
func pidfBody(exten, entity, contact string, st state.Extension) []byte {
	return appendPIDF(make([]byte, 0, 700), xmlEscaper.Replace(exten), xmlEscaper.Replace(entity), xmlEscaper.Replace(contact), st)
}

// appendPIDF appends pidfBody's text, exten, entity and contact already XML-escaped.
func appendPIDF(b []byte, e, entity, contact string, st state.Extension) []byte {
	basic, activity, note := "open", "", "Ready"
	switch {
	case st == state.ExtRemoved, st == state.ExtDeactivated, st == state.ExtUnavailable:
		basic, activity, note = "closed", "away", "Unavailable"
	case st.Has(state.ExtRinging):
		activity, note = "busy", "Ringing"
	case st.Has(state.ExtOnHold):
		basic, activity, note = "closed", "busy", "On hold"
	case st.Has(state.ExtBusy):
		basic, activity, note = "closed", "busy", "On the phone"
	case st.Has(state.ExtInUse):
		activity, note = "busy", "On the phone"
	}
	b = append(b, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"...)
	b = append(b, "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:pp=\"urn:ietf:params:xml:ns:pidf:person\" xmlns:es=\"urn:ietf:params:xml:ns:pidf:rpid:status:rpid-status\" xmlns:ep=\"urn:ietf:params:xml:ns:pidf:rpid:rpid-person\" entity=\""...)
	b = append(b, entity...)
	b = append(b, "\">\n<pp:person><status>\n"...)
	if activity != "" {
		b = append(b, "<ep:activities><ep:"...)
		b = append(b, activity...)
		b = append(b, "/></ep:activities>\n"...)
	}
	b = append(b, "</status></pp:person>\n<note>"...)
	b = append(b, note...)
	b = append(b, "</note>\n<tuple id=\""...)
	b = append(b, e...)
	b = append(b, "\">\n<contact priority=\"1\">"...)
	b = append(b, contact...)
	b = append(b, "</contact>\n<status><basic>"...)
	b = append(b, basic...)
	b = append(b, "</basic></status>\n</tuple>\n</presence>\n"...)
	return b
}

// mwiBody is RFC 3842's application/simple-message-summary, as chan_sip writes it.
func mwiBody(nw, old, urgent int, account string) []byte {
	return appendMWI(nil, nw, old, urgent, account)
}

func appendMWI(b []byte, nw, old, urgent int, account string) []byte {
	waiting := "no"
	if nw > 0 {
		waiting = "yes"
	}
	b = append(b, "Messages-Waiting: "...)
	b = append(b, waiting...)
	b = append(b, "\r\nMessage-Account: "...)
	b = append(b, account...)
	b = append(b, "\r\nVoice-Message: "...)
	b = strconv.AppendInt(b, int64(nw), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(old), 10)
	b = append(b, " ("...)
	b = strconv.AppendInt(b, int64(urgent), 10)
	b = append(b, "/0)\r\n"...)
	return b
}

// appendSubState appends a NOTIFY's Subscription-State value.
func appendSubState(b []byte, terminated bool, reason string, expires int) []byte {
	if !terminated {
		return strconv.AppendInt(append(b, "active;expires="...), int64(expires), 10)
	}
	b = append(b, "terminated"...)
	if reason != "" {
		b = append(b, ";reason="...)
		b = append(b, reason...)
	}
	return b
}
