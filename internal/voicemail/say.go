package voicemail

import (
	"strconv"
	"strings"
	"time"
)

// defaultEnvelope is the date format app_voicemail says before a message when the mailbox's
// tz= names no zone of [zonemessages] (its English default).
const defaultEnvelope = "'vm-received' q 'digits/at' IMp"

// dateFiles are the sound files that say t in English as format asks: Asterisk's
// ast_say_date_with_format for "en", whose codes [zonemessages] uses: 'file' (a sound file),
// A/a weekday, B/b/h month, m month as an ordinal, d/e day as an ordinal, Y year, I/l hour of
// 12, H hour of 24 ("oh" before one digit), k hour of 24, M minute (00: "o'clock"), N minute
// (00: "hundred"), P/p a.m./p.m., Q today/yesterday/a date, q nothing for today, yesterday, a
// weekday within the week or a date, R is HM, S seconds, T is HMS; spaces are skipped and
// anything else (a ${VAR}, which Pleiades does not substitute here) says nothing. now is the
// time the caller hears it (for Q and q); t and now are taken in loc.
func dateFiles(format string, t, now time.Time, loc *time.Location) []string {
	if loc == nil {
		loc = time.Local
	}
	t, now = t.In(loc), now.In(loc)
	var out []string
	for i := 0; i < len(format); i++ {
		switch c := format[i]; c {
		case '\'':
			end := strings.IndexByte(format[i+1:], '\'')
			if end < 0 {
				end = len(format) - i - 1
			}
			if f := format[i+1 : i+1+end]; f != "" {
				out = append(out, f)
			}
			i += end + 1
		case '$':
			// ${VAR}: not substituted here, and its letters are no codes.
			if strings.HasPrefix(format[i:], "${") {
				if end := strings.IndexByte(format[i:], '}'); end > 0 {
					i += end
				} else {
					i = len(format)
				}
			}
		case 'A', 'a':
			out = append(out, "digits/day-"+strconv.Itoa(int(t.Weekday())))
		case 'B', 'b', 'h':
			out = append(out, "digits/mon-"+strconv.Itoa(int(t.Month())-1))
		case 'm':
			out = append(out, ordinalFiles(int(t.Month()))...)
		case 'd', 'e':
			out = append(out, ordinalFiles(t.Day())...)
		case 'Y':
			switch y := t.Year(); {
			case y >= 2000:
				out = append(out, numberFiles(y)...)
			case y > 1900:
				out = append(out, "digits/19")
				if y-1900 <= 9 {
					out = append(out, "digits/oh")
				}
				out = append(out, numberFiles(y-1900)...)
			}
		case 'I', 'l':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			out = append(out, "digits/"+strconv.Itoa(h))
		case 'H', 'k':
			h := t.Hour()
			if c == 'H' && h < 10 || c == 'k' && h == 0 {
				out = append(out, "digits/oh")
			}
			if h != 0 {
				if h > 20 {
					out = append(out, "digits/20")
					h -= 20
				}
				out = append(out, "digits/"+strconv.Itoa(h))
			}
		case 'M', 'N':
			switch m := t.Minute(); {
			case m == 0 && c == 'M':
				out = append(out, "digits/oclock")
			case m == 0:
				out = append(out, "digits/hundred")
			case m < 10:
				out = append(out, "digits/oh", "digits/"+strconv.Itoa(m))
			default:
				out = append(out, numberFiles(m)...)
			}
		case 'S':
			switch s := t.Second(); {
			case s == 0:
				out = append(out, "digits/0")
			case s < 10:
				out = append(out, "digits/oh", "digits/"+strconv.Itoa(s))
			default:
				out = append(out, numberFiles(s)...)
			}
		case 'P', 'p':
			if t.Hour() > 11 {
				out = append(out, "digits/p-m")
			} else {
				out = append(out, "digits/a-m")
			}
		case 'Q', 'q':
			y, mo, d := now.Date()
			today := time.Date(y, mo, d, 0, 0, 0, 0, loc)
			switch {
			case t.After(today):
				if c == 'Q' {
					out = append(out, "digits/today")
				}
			case t.After(today.Add(-24 * time.Hour)):
				out = append(out, "digits/yesterday")
			case t.After(today.Add(-6 * 24 * time.Hour)):
				out = append(out, dateFiles("A", t, now, loc)...)
			case t.After(today.Add(-2628000 * time.Second)):
				out = append(out, dateFiles("ABd", t, now, loc)...)
			case t.After(today.Add(-15768000 * time.Second)):
				out = append(out, dateFiles("Bd", t, now, loc)...)
			default:
				out = append(out, dateFiles("BdY", t, now, loc)...)
			}
		case 'R':
			out = append(out, dateFiles("HM", t, now, loc)...)
		case 'T':
			out = append(out, dateFiles("HMS", t, now, loc)...)
		}
	}
	return out
}

// ordinalFiles say n as an ordinal ("first", "twenty first": Asterisk's ast_say_enumeration
// for "en", up to 99).
func ordinalFiles(n int) []string {
	switch {
	case n <= 0 || n >= 100:
		return numberFiles(n)
	case n < 20 || n%10 == 0:
		return []string{"digits/h-" + strconv.Itoa(n)}
	default:
		return []string{"digits/" + strconv.Itoa(n/10*10), "digits/h-" + strconv.Itoa(n%10)}
	}
}

// callerIDFiles say who left a message (app_voicemail's play_message_callerid for a caller
// outside the internal contexts): "from phone number" and its digits, or "unknown caller".
func callerIDFiles(callerID string) []string {
	num := callerID
	if i := strings.LastIndexByte(callerID, '<'); i >= 0 {
		if j := strings.IndexByte(callerID[i:], '>'); j > 0 {
			num = callerID[i+1 : i+j]
		}
	}
	num = strings.TrimSpace(num)
	digits := digitFiles(num)
	if num == "" || strings.EqualFold(num, "unknown") || len(digits) != len(num) {
		return []string{"vm-unknown-caller"}
	}
	return append([]string{"vm-from-phonenumber"}, digits...)
}

// envelopeFiles are what is said before a message: its date (when the mailbox's envelope is
// on, Asterisk's default) in the mailbox's zone, then who left it (saycid).
func (s *session) envelopeFiles(m Message, now time.Time) []string {
	g := s.e.cfg.Load().General
	var out []string
	if s.m.boolOpt("envelope", generalBool(g, "envelope", true)) && m.Meta.OrigTime != 0 {
		format, loc := s.zone()
		out = append(out, dateFiles(format, time.Unix(m.Meta.OrigTime, 0), now, loc)...)
	}
	if s.m.boolOpt("saycid", g.SayCID) {
		out = append(out, callerIDFiles(m.Meta.CallerID)...)
	}
	return out
}

// zone is the date format and time zone of the mailbox's tz= ([zonemessages]), else
// Asterisk's default format in the server's zone.
func (s *session) zone() (string, *time.Location) {
	if tz := s.m.Options["tz"]; tz != "" {
		for _, z := range s.e.cfg.Load().Zones {
			if z.Name == tz {
				loc, err := time.LoadLocation(z.TZ)
				if err != nil {
					loc = time.Local
				}
				return z.Format, loc
			}
		}
	}
	return defaultEnvelope, time.Local
}

// generalBool reads a [general] boolean kept only in Vars.
func generalBool(g General, name string, def bool) bool {
	m := Mailbox{Options: map[string]string{name: g.Vars[name]}}
	return m.boolOpt(name, def)
}
