package channel

import (
	"errors"
	"strconv"
	"time"
)

// State is a channel's state (Asterisk's enum ast_channel_state), with Asterisk's numbers
// (AMI's ChannelState) and texts (ChannelStateDesc, "core show channels").
type State int

// The channel states.
const (
	Down           State = 0 // "Down": not yet called, or hung up
	Reserved       State = 1 // "Rsrvd"
	OffHook        State = 2 // "OffHook"
	Dialing        State = 3 // "Dialing": digits being sent
	Ring           State = 4 // "Ring": an incoming call, not answered (the caller hears ringback)
	Ringing        State = 5 // "Ringing": an outgoing call whose far end rings
	Up             State = 6 // "Up": answered
	Busy           State = 7 // "Busy"
	DialingOffhook State = 8 // "Dialing Offhook"
	PreRing        State = 9 // "Pre-ring"
)

var stateTexts = [...]string{"Down", "Rsrvd", "OffHook", "Dialing", "Ring", "Ringing", "Up", "Busy", "Dialing Offhook", "Pre-ring"}

// String returns Asterisk's text for the state (ast_state2str); an unknown value reads as
// "Unknown (N)".
func (s State) String() string {
	if s >= 0 && int(s) < len(stateTexts) {
		return stateTexts[s]
	}
	return "Unknown (" + strconv.Itoa(int(s)) + ")"
}

// Cause is a hangup cause (Q.850, Asterisk's AST_CAUSE_*), as HANGUPCAUSE, AMI's Cause and
// Cause-txt carry it.
type Cause int

// The hangup causes Pleiades uses (Asterisk's numbers).
const (
	CauseUnallocated              Cause = 1   // UNALLOCATED: no such number (404)
	CauseNoRouteDestination       Cause = 3   // NO_ROUTE_DESTINATION
	CauseNormalClearing           Cause = 16  // NORMAL_CLEARING
	CauseUserBusy                 Cause = 17  // USER_BUSY (486)
	CauseNoUserResponse           Cause = 18  // NO_USER_RESPONSE (408)
	CauseNoAnswer                 Cause = 19  // NO_ANSWER
	CauseSubscriberAbsent         Cause = 20  // SUBSCRIBER_ABSENT (peer not registered)
	CauseCallRejected             Cause = 21  // CALL_REJECTED (403, 603)
	CauseNumberChanged            Cause = 22  // NUMBER_CHANGED (410)
	CauseAnsweredElsewhere        Cause = 26  // ANSWERED_ELSEWHERE: another leg of the Dial answered
	CauseDestinationOutOfOrder    Cause = 27  // DESTINATION_OUT_OF_ORDER (502)
	CauseInvalidNumberFormat      Cause = 28  // INVALID_NUMBER_FORMAT (484)
	CauseFacilityRejected         Cause = 29  // FACILITY_REJECTED (501)
	CauseNormalUnspecified        Cause = 31  // NORMAL_UNSPECIFIED
	CauseCongestion               Cause = 34  // NORMAL_CIRCUIT_CONGESTION (503)
	CauseNetworkOutOfOrder        Cause = 38  // NETWORK_OUT_OF_ORDER
	CauseTemporaryFailure         Cause = 41  // NORMAL_TEMPORARY_FAILURE
	CauseSwitchCongestion         Cause = 42  // SWITCH_CONGESTION
	CauseChannelUnavailable       Cause = 44  // REQUESTED_CHAN_UNAVAIL
	CauseBearerCapabilityNotAvail Cause = 58  // BEARERCAPABILITY_NOTAVAIL (488)
	CauseInvalidMessage           Cause = 95  // INVALID_MSG_UNSPECIFIED
	CauseRecoveryOnTimerExpire    Cause = 102 // RECOVERY_ON_TIMER_EXPIRE (timeout)
	CauseInterworking             Cause = 127 // INTERWORKING
)

var causeTexts = map[Cause][2]string{
	CauseUnallocated:              {"UNALLOCATED", "Unallocated (unassigned) number"},
	CauseNoRouteDestination:       {"NO_ROUTE_DESTINATION", "No route to destination"},
	CauseNormalClearing:           {"NORMAL_CLEARING", "Normal Clearing"},
	CauseUserBusy:                 {"USER_BUSY", "User busy"},
	CauseNoUserResponse:           {"NO_USER_RESPONSE", "No user responding"},
	CauseNoAnswer:                 {"NO_ANSWER", "User alerting, no answer"},
	CauseSubscriberAbsent:         {"SUBSCRIBER_ABSENT", "Subscriber absent"},
	CauseCallRejected:             {"CALL_REJECTED", "Call Rejected"},
	CauseNumberChanged:            {"NUMBER_CHANGED", "Number changed"},
	CauseAnsweredElsewhere:        {"ANSWERED_ELSEWHERE", "Answered elsewhere"},
	CauseDestinationOutOfOrder:    {"DESTINATION_OUT_OF_ORDER", "Destination out of order"},
	CauseInvalidNumberFormat:      {"INVALID_NUMBER_FORMAT", "Invalid number format"},
	CauseFacilityRejected:         {"FACILITY_REJECTED", "Facility rejected"},
	CauseNormalUnspecified:        {"NORMAL_UNSPECIFIED", "Normal, unspecified"},
	CauseCongestion:               {"NORMAL_CIRCUIT_CONGESTION", "Circuit/channel congestion"},
	CauseNetworkOutOfOrder:        {"NETWORK_OUT_OF_ORDER", "Network out of order"},
	CauseTemporaryFailure:         {"NORMAL_TEMPORARY_FAILURE", "Temporary failure"},
	CauseSwitchCongestion:         {"SWITCH_CONGESTION", "Switching equipment congestion"},
	CauseChannelUnavailable:       {"REQUESTED_CHAN_UNAVAIL", "Requested channel not available"},
	CauseBearerCapabilityNotAvail: {"BEARERCAPABILITY_NOTAVAIL", "Bearer capability not available"},
	CauseInvalidMessage:           {"INVALID_MSG_UNSPECIFIED", "Invalid message unspecified"},
	CauseRecoveryOnTimerExpire:    {"RECOVERY_ON_TIMER_EXPIRE", "Recover on timer expiry"},
	CauseInterworking:             {"INTERWORKING", "Interworking, unspecified"},
}

// Name returns the cause's name as Asterisk's ast_cause2str_name ("NORMAL_CLEARING").
func (c Cause) Name() string {
	if t, ok := causeTexts[c]; ok {
		return t[0]
	}
	return "UNKNOWN"
}

// String returns the cause's text as Asterisk's ast_cause2str ("Normal Clearing"), which
// AMI's Cause-txt carries.
func (c Cause) String() string {
	if t, ok := causeTexts[c]; ok {
		return t[1]
	}
	return "Unknown"
}

// CauseError is an error that carries a hangup cause (a refused Request, a failed Call).
type CauseError struct {
	Cause Cause
	Err   error
}

func (e *CauseError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Cause.String()
}

func (e *CauseError) Unwrap() error { return e.Err }

// CauseOf returns the cause an error carries (a *CauseError in its chain),
// CauseChannelUnavailable for any other non-nil error, and 0 for nil.
func CauseOf(err error) Cause {
	if err == nil {
		return 0
	}
	var ce *CauseError
	if errors.As(err, &ce) {
		return ce.Cause
	}
	return CauseChannelUnavailable
}

// Condition is what Indicate signals to the far end (Asterisk's AST_CONTROL_*).
type Condition int

// The conditions.
const (
	CondRinging    Condition = iota + 1 // the far end should hear ringback (SIP 180)
	CondProgress                        // in-band progress / early media follows (183 with SDP)
	CondProceeding                      // the call proceeds (SIP: nothing beyond 100)
	CondBusy                            // busy (486)
	CondCongestion                      // congestion (503)
	CondHold                            // this side put the call on hold
	CondUnhold                          // this side took the call off hold
	CondSrcUpdate                       // the media source changed (a new SSRC follows)
)

var conditionTexts = [...]string{"", "Ringing", "Progress", "Proceeding", "Busy", "Congestion", "Hold", "Unhold", "SrcUpdate"}

func (c Condition) String() string {
	if c > 0 && int(c) < len(conditionTexts) {
		return conditionTexts[c]
	}
	return "Condition(" + strconv.Itoa(int(c)) + ")"
}

// FrameKind is the kind of a frame from the far end.
type FrameKind int

// The frame kinds.
const (
	FrameAnswer     FrameKind = iota + 1 // the far end answered (the channel is Up)
	FrameRinging                         // the far end rings (180)
	FrameProgress                        // early media / session progress (183)
	FrameProceeding                      // the far end proceeds (100 on an outgoing call: nothing to do)
	FrameBusy                            // the far end is busy (486, before HungUp)
	FrameCongestion                      // congestion (503, before HungUp)
	FrameDTMFBegin                       // a DTMF digit starts
	FrameDTMFEnd                         // a DTMF digit ends (Duration set)
	FrameHold                            // the far end put us on hold (re-INVITE sendonly/inactive)
	FrameUnhold                          // the far end took us off hold
	FrameSrcUpdate                       // the far end's media source changed (re-INVITE, new SDP)
)

// Frame is one thing the far end did, queued by the Tech for the channel's owner.
type Frame struct {
	Kind     FrameKind
	Digit    rune          // DTMF frames
	Duration time.Duration // FrameDTMFEnd
}

// Snapshot is a channel's identity and state at one moment, as AMI events carry it
// (Channel, ChannelState, CallerIDNum, ..., Uniqueid, Linkedid) and "core show channels"
// lists it.
type Snapshot struct {
	Name, UniqueID, LinkedID    string
	State                       State
	CallerNum, CallerName       string
	ConnectedNum, ConnectedName string
	AccountCode, Language       string
	Context, Exten              string
	Priority                    int
	Application, AppData        string
	Device                      string
	Created                     time.Time
}

// EventKind is the kind of a channel event (the AMI event of the same name).
type EventKind int

// The channel events.
const (
	EventNewchannel EventKind = iota + 1
	EventNewstate
	EventNewCallerID
	EventDialBegin
	EventDialEnd
	EventBridgeEnter
	EventBridgeLeave
	EventHangupRequest
	EventHangup
	EventDTMFBegin
	EventDTMFEnd
	EventHold
	EventUnhold
	EventNewAccountCode
)

var eventNames = [...]string{"", "Newchannel", "Newstate", "NewCallerid", "DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave", "HangupRequest", "Hangup", "DTMFBegin", "DTMFEnd", "Hold", "Unhold", "NewAccountCode"}

// String returns the AMI event name.
func (k EventKind) String() string {
	switch k {
	case EventMusicOnHoldStart:
		return "MusicOnHoldStart"
	case EventMusicOnHoldStop:
		return "MusicOnHoldStop"
	}
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "Event(" + strconv.Itoa(int(k)) + ")"
}

// Event is one thing that happened to a channel, published in order to the Registry's
// observers (AMI, later CDR/CEL).
type Event struct {
	Kind    EventKind
	Channel Snapshot
	// Dest is the called channel of DialBegin/DialEnd (Channel is the caller; a dial with
	// no caller, an originate, has a zero Channel).
	Dest       Snapshot
	DialString string // DialBegin: what Dial was given ("SIP/bob")
	DialStatus string // DialEnd: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL...
	Cause      Cause  // Hangup, HangupRequest
	Digit      rune   // DTMF events
	Duration   time.Duration
	Direction  string // DTMF: "Received" or "Sent"
	Bridge     BridgeSnapshot
	Old        string // NewAccountCode: the account code before
	MusicClass string // MusicOnHoldStart: the class
}

// BridgeSnapshot identifies a bridge in BridgeEnter/BridgeLeave.
type BridgeSnapshot struct {
	UniqueID    string
	Type        string // "basic"
	Technology  string // "simple_bridge"
	NumChannels int
}
