package dialplan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Timing is a parsed Asterisk time condition: "times,weekdays,mdays,months[,timezone]"
// (the old form separates with '|'), as used by include => ctx,..., GotoIfTime and IFTIME.
// Each field is "*" or a list of ranges joined by '&'; ranges are cyclic ("fri-mon").
type Timing struct {
	minutes  [48]uint32 // one bit per minute, two words per hour (Asterisk's minmask)
	dow      uint32     // bit 0 = Sunday
	mday     uint32     // bit 0 = day 1
	month    uint32     // bit 0 = January
	Location *time.Location
	// Spec is the text the timing was parsed from.
	Spec string
}

var (
	dayNames   = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
)

// ParseTiming parses a time condition. Elements Asterisk would skip with a warning are
// skipped and reported in the returned warnings; an unknown time zone is an error.
func ParseTiming(spec string) (*Timing, []string, error) {
	t := &Timing{month: 0xfff, mday: 0x7fffffff, dow: 0x7f, Spec: spec, Location: time.Local}
	var warns []string
	// Asterisk counts separators, so empty fields count too.
	raw := splitAny(spec, ",|")
	if len(raw) >= 5 {
		tz := strings.TrimSpace(raw[4])
		if tz != "" {
			loc, err := time.LoadLocation(tz)
			if err != nil {
				return nil, warns, fmt.Errorf("unknown time zone %q", tz)
			}
			t.Location = loc
		}
	}
	get := func(i int) string {
		if i < len(raw) {
			return strings.TrimSpace(raw[i])
		}
		return "*"
	}
	warns = append(warns, t.parseTimes(get(0))...)
	var w []string
	if len(raw) > 1 {
		t.dow, w = parseRange(get(1), 7, dayNames, "day of week")
		warns = append(warns, w...)
	}
	if len(raw) > 2 {
		t.mday, w = parseRange(get(2), 31, nil, "day")
		warns = append(warns, w...)
	}
	if len(raw) > 3 {
		t.month, w = parseRange(get(3), 12, monthNames, "month")
		warns = append(warns, w...)
	}
	return t, warns, nil
}

func splitAny(s, seps string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(seps, s[i]) >= 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func (t *Timing) parseTimes(s string) []string {
	if s == "" || s == "*" {
		for i := range t.minutes {
			t.minutes[i] = 0x3fffffff
		}
		return nil
	}
	var warns []string
	for _, part := range strings.Split(s, "&") {
		start, end, isRange := strings.Cut(part, "-")
		sm, ok := parseHHMM(start)
		if !ok {
			if isRange {
				warns = append(warns, fmt.Sprintf("'%s' isn't a valid start time", start))
			} else {
				warns = append(warns, fmt.Sprintf("%s isn't a valid time", part))
			}
			continue
		}
		if !isRange {
			t.minutes[sm/30] |= 1 << (sm % 30)
			continue
		}
		em, ok := parseHHMM(strings.TrimLeft(end, " \t"))
		if !ok {
			warns = append(warns, fmt.Sprintf("'%s' isn't a valid end time", end))
			continue
		}
		x := sm
		for x != em {
			t.minutes[x/30] |= 1 << (x % 30)
			x = (x + 1) % (24 * 60)
		}
		t.minutes[x/30] |= 1 << (x % 30)
	}
	return warns
}

func parseHHMM(s string) (int, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, false
	}
	return hh*60 + mm, true
}

func lookupName(s string, names []string, max int) int {
	if names != nil && s != "" && s[0] > '9' {
		for i, n := range names {
			if strings.EqualFold(s, n) {
				return i
			}
		}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= max {
		return n - 1
	}
	return -1
}

func parseRange(s string, max int, names []string, what string) (uint32, []string) {
	if s == "" || s == "*" {
		return 1<<max - 1, nil
	}
	var mask uint32
	var warns []string
	for _, part := range strings.Split(s, "&") {
		a, b, isRange := strings.Cut(part, "-")
		start := lookupName(strings.TrimSpace(a), names, max)
		if start < 0 {
			warns = append(warns, fmt.Sprintf("Invalid %s '%s', skipping element", what, part))
			continue
		}
		end := start
		if isRange {
			if end = lookupName(strings.TrimSpace(b), names, max); end < 0 {
				warns = append(warns, fmt.Sprintf("Invalid end %s '%s', skipping element", what, b))
				continue
			}
		}
		mask |= 1 << end
		for start != end {
			mask |= 1 << start
			if start++; start >= max {
				start = 0
			}
		}
	}
	return mask, warns
}

// Check reports whether tm falls inside the condition (in the condition's time zone).
func (t *Timing) Check(tm time.Time) bool {
	if t == nil {
		return true
	}
	tm = tm.In(t.Location)
	if t.month&(1<<(int(tm.Month())-1)) == 0 || t.mday&(1<<(tm.Day()-1)) == 0 || t.dow&(1<<int(tm.Weekday())) == 0 {
		return false
	}
	m := tm.Hour()*60 + tm.Minute()
	return t.minutes[m/30]&(1<<(m%30)) != 0
}
