package cdr

import (
	"strconv"
	"strings"
	"time"
)

// Disposition is what became of a call, as Asterisk's enum ast_cdr_disposition and its
// texts (ast_cdr_disp2str).
type Disposition int

// The dispositions (Asterisk's values).
const (
	DispNull       Disposition = 0
	DispNoAnswer   Disposition = 1 << 0
	DispFailed     Disposition = 1 << 1
	DispBusy       Disposition = 1 << 2
	DispAnswered   Disposition = 1 << 3
	DispCongestion Disposition = 1 << 4
)

// String returns Asterisk's text: "ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION".
func (d Disposition) String() string {
	switch d {
	case DispNoAnswer:
		return "NO ANSWER"
	case DispFailed:
		return "FAILED"
	case DispBusy:
		return "BUSY"
	case DispAnswered:
		return "ANSWERED"
	case DispCongestion:
		return "CONGESTION"
	}
	return "NULL"
}

// AMA flags (Asterisk's AST_AMA_*).
const (
	AMAOmit          = 1
	AMABilling       = 2
	AMADocumentation = 3
)

// AMAString returns Asterisk's text for AMA flags (ast_channel_amaflags2string).
func AMAString(f int) string {
	switch f {
	case AMAOmit:
		return "OMIT"
	case AMABilling:
		return "BILLING"
	case AMADocumentation:
		return "DOCUMENTATION"
	}
	return "Unknown"
}

// ParseAMA reads AMA flags as Asterisk's ast_channel_string2amaflag: a name (any case,
// "default" is DOCUMENTATION) or a number 1-3; 0 for anything else.
func ParseAMA(s string) int {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "OMIT", "1":
		return AMAOmit
	case "BILLING", "2":
		return AMABilling
	case "DOCUMENTATION", "DEFAULT", "3":
		return AMADocumentation
	}
	return 0
}

// Record is one call detail record with Asterisk's fields (struct ast_cdr).
type Record struct {
	AccountCode string
	Src         string // caller ID number of party A
	Dst         string // extension party A was at
	DContext    string // context party A was at
	CLID        string // `"Name" <num>` of party A
	Channel     string // party A
	DstChannel  string // party B, empty without one
	LastApp     string
	LastData    string
	Start       time.Time
	Answer      time.Time // zero: not answered
	End         time.Time
	Disposition Disposition
	AMAFlags    int
	UserField   string
	UniqueID    string // party A's
	LinkedID    string
	PeerAccount string // party B's account code
	Sequence    int
	// Vars are the CDR variables set with Set(CDR(name)=...) (other than the built-in fields).
	Vars map[string]string
}

// Duration is the whole seconds from start to end (Asterisk truncates).
func (r *Record) Duration() int64 {
	if r.End.IsZero() || r.Start.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start).Milliseconds() / 1000
}

// Billsec is the whole seconds from answer to end, 0 unanswered. With initiated (cdr.conf
// initiatedseconds) a started second of 500 ms or more counts.
func (r *Record) Billsec(initiated bool) int64 {
	if r.Answer.IsZero() || r.End.IsZero() {
		return 0
	}
	ms := r.End.Sub(r.Answer).Milliseconds()
	if initiated && ms%1000 >= 500 {
		return ms/1000 + 1
	}
	return ms / 1000
}

// timeFormat is how Asterisk prints CDR times (cdr_csv, CDR(start), cdr_manager).
const timeFormat = "2006-01-02 15:04:05"

// FormatTime prints t as Asterisk does in CDRs ("2006-01-02 15:04:05"), "" for zero.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(timeFormat)
}

// Field returns a field by its CDR() name (case-insensitive), as Asterisk's ast_cdr_format_var
// prints it (times formatted, durations in seconds, disposition and amaflags as text), and
// whether the name is one; CDR variables come after the built-in names.
func (r *Record) Field(name string, initiated bool) (string, bool) {
	switch strings.ToLower(name) {
	case "accountcode":
		return r.AccountCode, true
	case "src":
		return r.Src, true
	case "dst":
		return r.Dst, true
	case "dcontext":
		return r.DContext, true
	case "clid":
		return r.CLID, true
	case "channel":
		return r.Channel, true
	case "dstchannel":
		return r.DstChannel, true
	case "lastapp":
		return r.LastApp, true
	case "lastdata":
		return r.LastData, true
	case "start":
		return FormatTime(r.Start), true
	case "answer":
		return FormatTime(r.Answer), true
	case "end":
		return FormatTime(r.End), true
	case "duration":
		return strconv.FormatInt(r.Duration(), 10), true
	case "billsec":
		return strconv.FormatInt(r.Billsec(initiated), 10), true
	case "disposition":
		return r.Disposition.String(), true
	case "amaflags":
		return AMAString(r.AMAFlags), true
	case "userfield":
		return r.UserField, true
	case "uniqueid":
		return r.UniqueID, true
	case "linkedid":
		return r.LinkedID, true
	case "peeraccount":
		return r.PeerAccount, true
	case "sequence":
		return strconv.Itoa(r.Sequence), true
	}
	v, ok := r.Vars[name]
	return v, ok
}

func (r *Record) clone() *Record {
	c := *r
	if r.Vars != nil {
		c.Vars = make(map[string]string, len(r.Vars))
		for k, v := range r.Vars {
			c.Vars[k] = v
		}
	}
	return &c
}
