package dialplan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/astdb"
	"github.com/pleiades-pbx/pleiades/internal/callerid"
)

func init() {
	for _, f := range []*Function{
		{Name: "LEN", Synopsis: "Return the length of the string given", Read: fnLen},
		{Name: "IF", Synopsis: "Check for an expression", Read: fnIf},
		{Name: "IFTIME", Synopsis: "Temporal Conditional", Read: fnIfTime},
		{Name: "ISNULL", Synopsis: "Check if a value is NULL", Read: fnIsNull},
		{Name: "EXISTS", Synopsis: "Test the existence of a value", Read: fnExists},
		{Name: "CUT", Synopsis: "Slices and dices strings, based upon a named delimiter", Read: fnCut},
		{Name: "FIELDQTY", Synopsis: "Count the fields with an arbitrary delimiter", Read: fnFieldQty},
		{Name: "FILTER", Synopsis: "Filter the string to include only the allowed characters", Read: fnFilter},
		{Name: "REGEX", Synopsis: "Check string against a regular expression", Read: fnRegex},
		{Name: "TOUPPER", Synopsis: "Convert string to all uppercase letters", Read: func(_ context.Context, _ *Channel, a string) (string, error) { return strings.ToUpper(a), nil }},
		{Name: "TOLOWER", Synopsis: "Convert string to all lowercase letters", Read: func(_ context.Context, _ *Channel, a string) (string, error) { return strings.ToLower(a), nil }},
		{Name: "GLOBAL", Synopsis: "Gets or sets the global variable specified", Read: fnGlobalRead, Write: fnGlobalWrite},
		{Name: "LOCAL", Synopsis: "Manage variables local to the gosub stack frame", Read: fnLocalRead, Write: fnLocalWrite},
		// The astdb functions read and change data the Manager's own DB actions keep for
		// the system class: DB both ways and DB_DELETE's read as in Asterisk; DB_EXISTS,
		// which copies the value into DB_RESULT, as well (Asterisk: not marked).
		{Name: "DB", Synopsis: "Read from or write to the Asterisk database", Read: fnDBRead, Write: fnDBWrite, Escalates: EscalatesBoth},
		{Name: "DB_EXISTS", Synopsis: "Check to see if a key exists in the Asterisk database", Read: fnDBExists, Escalates: EscalatesRead},
		{Name: "DB_DELETE", Synopsis: "Return a value from the database and delete it", Read: fnDBDelete, Escalates: EscalatesRead},
		{Name: "CALLERID", Synopsis: "Gets or sets Caller*ID data on the channel", Read: fnCallerIDRead, Write: fnCallerIDWrite},
		{Name: "SET", Synopsis: "SET assigns a value to a channel variable", Read: fnSet},
		{Name: "STRFTIME", Synopsis: "Returns the current date/time in the specified format", Read: fnStrftime},
		{Name: "EPOCH", Synopsis: "The current time in seconds since the Unix epoch", Read: func(_ context.Context, ch *Channel, _ string) (string, error) {
			return strconv.FormatInt(ch.now().Unix(), 10), nil
		}},
		{Name: "RAND", Synopsis: "Choose a random number in a range", Read: fnRand},
	} {
		builtins.funcs.put(f.Name, f)
	}
}

func fnLen(_ context.Context, _ *Channel, a string) (string, error) {
	return strconv.Itoa(len(a)), nil
}

func fnIf(_ context.Context, _ *Channel, a string) (string, error) {
	cond, rest, ok := splitTop(a, '?')
	if !ok {
		return "", errors.New("syntax: IF(<expr>?[<true>][:<false>])")
	}
	t, f, _ := splitTop(rest, ':')
	if CheckCondition(cond) {
		return strings.TrimSpace(t), nil
	}
	return strings.TrimSpace(f), nil
}

func fnIfTime(_ context.Context, ch *Channel, a string) (string, error) {
	spec, rest, ok := splitTop(a, '?')
	if !ok {
		return "", errors.New("IFTIME: Syntax IFTIME(<timespec>?[<true>][:<false>])")
	}
	t, f, _ := splitTop(rest, ':')
	tm, _, err := ParseTiming(strings.TrimSpace(spec))
	if err != nil {
		return "", fmt.Errorf("IFTIME: %v", err)
	}
	if tm.Check(ch.now()) {
		return strings.TrimSpace(t), nil
	}
	return strings.TrimSpace(f), nil
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func fnIsNull(_ context.Context, _ *Channel, a string) (string, error) { return boolStr(a == ""), nil }
func fnExists(_ context.Context, _ *Channel, a string) (string, error) { return boolStr(a != ""), nil }

// decodeDelim returns the first character of a delimiter argument, honouring the escapes
// ast_get_encoded_char knows (\n, \t, \xHH, \\ ...).
func decodeDelim(s, def string) string {
	if s == "" {
		return def
	}
	if s[0] != '\\' || len(s) == 1 {
		return s[:1]
	}
	switch s[1] {
	case 'n':
		return "\n"
	case 'r':
		return "\r"
	case 't':
		return "\t"
	case 'x':
		if len(s) >= 4 {
			if n, err := strconv.ParseUint(s[2:4], 16, 8); err == nil {
				return string(rune(n))
			}
		}
	}
	return s[1:2]
}

func fnCut(_ context.Context, ch *Channel, a string) (string, error) {
	args := splitArgs(a, ',')
	if len(args) < 3 {
		return "", errors.New("syntax: CUT(<varname>,<char-delim>,<range-spec>) - missing argument")
	}
	val, _ := ch.lookupVar(strings.TrimSpace(args[0]))
	delim := decodeDelim(args[1], "-")
	fields := strings.Split(val, delim)
	var out []string
	for _, part := range strings.Split(args[2], "&") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		from, to := 1, len(fields)
		var err error
		if lo != "" {
			if from, err = strconv.Atoi(lo); err != nil || from < 1 {
				return "", fmt.Errorf("CUT: invalid field spec '%s'", part)
			}
		}
		if !isRange {
			to = from
		} else if hi != "" {
			if to, err = strconv.Atoi(hi); err != nil {
				return "", fmt.Errorf("CUT: invalid field spec '%s'", part)
			}
		}
		for i := from; i <= to && i <= len(fields); i++ {
			out = append(out, fields[i-1])
		}
	}
	return strings.Join(out, delim), nil
}

func fnFieldQty(_ context.Context, ch *Channel, a string) (string, error) {
	name, d, _ := strings.Cut(a, ",")
	val, _ := ch.lookupVar(strings.TrimSpace(name))
	if val == "" {
		return "0", nil
	}
	delim := decodeDelim(d, "-")
	return strconv.Itoa(strings.Count(val, delim) + 1), nil
}

func fnFilter(_ context.Context, _ *Channel, a string) (string, error) {
	allowed, s, ok := strings.Cut(a, ",")
	if !ok {
		return "", errors.New("usage: FILTER(<allowed-chars>,<string>)")
	}
	var set [256]bool
	for i := 0; i < len(allowed); i++ {
		c1 := allowed[i]
		if c1 == '\\' && i+1 < len(allowed) {
			i++
			c1 = decodeDelim(allowed[i-1:], "")[0]
		}
		if i+2 < len(allowed) && allowed[i+1] == '-' {
			c2 := allowed[i+2]
			i += 2
			if c2 < c1 {
				c1, c2 = c2, c1
			}
			for c := int(c1); c <= int(c2); c++ {
				set[c] = true
			}
			continue
		}
		set[c1] = true
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if set[s[i]] {
			sb.WriteByte(s[i])
		}
	}
	return sb.String(), nil
}

func fnRegex(_ context.Context, _ *Channel, a string) (string, error) {
	i := strings.IndexByte(a, '"')
	if i < 0 {
		return "", errors.New(`REGEX: Syntax REGEX("<regular expression>" <string>)`)
	}
	j := strings.IndexByte(a[i+1:], '"')
	if j < 0 {
		return "", errors.New(`REGEX: Syntax REGEX("<regular expression>" <string>)`)
	}
	re, str := a[i+1:i+1+j], a[i+2+j:]
	str = strings.TrimPrefix(str, " ")
	rx, err := regexp.Compile(re)
	if err != nil {
		return "", fmt.Errorf("malformed regex '%s': %v", re, err)
	}
	return boolStr(rx.MatchString(str)), nil
}

func fnGlobalRead(_ context.Context, ch *Channel, a string) (string, error) {
	if ch.engine == nil {
		return "", nil
	}
	v, _ := ch.engine.Global(strings.TrimSpace(a))
	return v, nil
}

func fnGlobalWrite(_ context.Context, ch *Channel, a, v string) error {
	if ch.engine == nil {
		return errors.New("GLOBAL: no engine")
	}
	ch.engine.SetGlobal(strings.TrimSpace(a), v)
	return nil
}

func fnLocalRead(_ context.Context, ch *Channel, a string) (string, error) {
	v, _ := ch.Var(strings.TrimSpace(a))
	return v, nil
}

func fnLocalWrite(_ context.Context, ch *Channel, a, v string) error {
	if !ch.setLocal(strings.TrimSpace(a), v) {
		return fmt.Errorf("tried to set LOCAL(%s), but we aren't within a Gosub routine", a)
	}
	return nil
}

func dbOf(ch *Channel, fn string) (*astdb.DB, error) {
	if ch.engine == nil || ch.engine.db == nil {
		return nil, fmt.Errorf("%s: the internal database is not available", fn)
	}
	return ch.engine.db, nil
}

func familyKey(fn, a string) (string, string, error) {
	fam, key, ok := strings.Cut(strings.TrimSpace(a), "/")
	if !ok || fam == "" || key == "" {
		return "", "", fmt.Errorf("%s requires an argument, %s(<family>/<key>)", fn, fn)
	}
	return fam, key, nil
}

func fnDBRead(_ context.Context, ch *Channel, a string) (string, error) {
	fam, key, err := familyKey("DB", a)
	if err != nil {
		return "", err
	}
	db, err := dbOf(ch, "DB")
	if err != nil {
		return "", err
	}
	v, err := db.Get(fam, key)
	if errors.Is(err, astdb.ErrNotFound) {
		return "", nil
	}
	return v, err
}

func fnDBWrite(_ context.Context, ch *Channel, a, v string) error {
	fam, key, err := familyKey("DB", a)
	if err != nil {
		return err
	}
	db, err := dbOf(ch, "DB")
	if err != nil {
		return err
	}
	return db.Put(fam, key, v)
}

func fnDBExists(_ context.Context, ch *Channel, a string) (string, error) {
	fam, key, err := familyKey("DB_EXISTS", a)
	if err != nil {
		return "", err
	}
	db, err := dbOf(ch, "DB_EXISTS")
	if err != nil {
		return "", err
	}
	v, err := db.Get(fam, key)
	if err != nil {
		if errors.Is(err, astdb.ErrNotFound) {
			return "0", nil
		}
		return "", err
	}
	ch.SetVar("DB_RESULT", v)
	return "1", nil
}

func fnDBDelete(_ context.Context, ch *Channel, a string) (string, error) {
	fam, key, err := familyKey("DB_DELETE", a)
	if err != nil {
		return "", err
	}
	db, err := dbOf(ch, "DB_DELETE")
	if err != nil {
		return "", err
	}
	v, err := db.Get(fam, key)
	if err != nil {
		if errors.Is(err, astdb.ErrNotFound) {
			return "", nil
		}
		return "", err
	}
	if err := db.Del(fam, key); err != nil && !errors.Is(err, astdb.ErrNotFound) {
		return "", err
	}
	return v, nil
}

func fnCallerIDRead(_ context.Context, ch *Channel, a string) (string, error) {
	num, name := ch.CallerID()
	item, _, _ := strings.Cut(strings.TrimSpace(a), ",")
	switch strings.ToLower(item) {
	case "num", "number":
		return num, nil
	case "name":
		return name, nil
	case "all":
		switch {
		case name == "":
			return num, nil
		case num == "":
			return `"` + name + `"`, nil
		}
		return `"` + name + `" <` + num + `>`, nil
	}
	return "", fmt.Errorf("unknown callerid data type '%s'", item)
}

func fnCallerIDWrite(_ context.Context, ch *Channel, a, v string) error {
	num, name := ch.CallerID()
	item, _, _ := strings.Cut(strings.TrimSpace(a), ",")
	switch strings.ToLower(item) {
	case "num", "number":
		num = v
	case "name":
		name = v
	case "all":
		name, num = callerid.Split(v)
	default:
		return fmt.Errorf("unknown callerid data type '%s'", item)
	}
	ch.SetCallerID(num, name)
	return nil
}

func fnSet(ctx context.Context, ch *Channel, a string) (string, error) {
	name, v, ok := strings.Cut(a, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return "", errors.New("function SET requires an argument, SET(<varname>=[<value>])")
	}
	setOne(ctx, ch, "SET", a)
	return v, nil
}

func fnStrftime(_ context.Context, ch *Channel, a string) (string, error) {
	args := splitArgs(a, ',')
	get := func(i int) string {
		if i < len(args) {
			return strings.TrimSpace(args[i])
		}
		return ""
	}
	t := ch.now()
	if e := get(0); e != "" {
		sec, err := strconv.ParseFloat(e, 64)
		if err == nil {
			t = time.Unix(0, int64(sec*1e9))
		}
	}
	loc := time.Local
	if tz := get(1); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return "", fmt.Errorf("STRFTIME: unknown time zone '%s'", tz)
		}
		loc = l
	}
	format := "%c"
	if len(args) > 2 {
		format = strings.Join(args[2:], ",")
	}
	return Strftime(format, t.In(loc)), nil
}

func fnRand(_ context.Context, _ *Channel, a string) (string, error) {
	lo, hi := int64(0), int64(2147483647)
	minS, maxS, _ := strings.Cut(a, ",")
	if n, err := strconv.ParseInt(strings.TrimSpace(minS), 10, 64); err == nil {
		lo = n
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(maxS), 10, 64); err == nil {
		hi = n
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return strconv.FormatInt(lo+rand.Int64N(hi-lo+1), 10), nil
}

// Strftime formats t as C's strftime does for the conversions Asterisk's dialplan uses.
func Strftime(format string, t time.Time) string {
	var sb strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			sb.WriteByte(c)
			continue
		}
		i++
		switch format[i] {
		case 'a':
			sb.WriteString(t.Format("Mon"))
		case 'A':
			sb.WriteString(t.Format("Monday"))
		case 'b', 'h':
			sb.WriteString(t.Format("Jan"))
		case 'B':
			sb.WriteString(t.Format("January"))
		case 'c':
			sb.WriteString(t.Format("Mon Jan _2 15:04:05 2006"))
		case 'C':
			fmt.Fprintf(&sb, "%02d", t.Year()/100)
		case 'd':
			fmt.Fprintf(&sb, "%02d", t.Day())
		case 'D':
			sb.WriteString(t.Format("01/02/06"))
		case 'e':
			fmt.Fprintf(&sb, "%2d", t.Day())
		case 'F':
			sb.WriteString(t.Format("2006-01-02"))
		case 'H':
			fmt.Fprintf(&sb, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&sb, "%02d", (t.Hour()+11)%12+1)
		case 'j':
			fmt.Fprintf(&sb, "%03d", t.YearDay())
		case 'k':
			fmt.Fprintf(&sb, "%2d", t.Hour())
		case 'l':
			fmt.Fprintf(&sb, "%2d", (t.Hour()+11)%12+1)
		case 'm':
			fmt.Fprintf(&sb, "%02d", int(t.Month()))
		case 'M':
			fmt.Fprintf(&sb, "%02d", t.Minute())
		case 'n':
			sb.WriteByte('\n')
		case 'p':
			sb.WriteString(t.Format("PM"))
		case 'P':
			sb.WriteString(strings.ToLower(t.Format("PM")))
		case 'r':
			sb.WriteString(t.Format("03:04:05 PM"))
		case 'R':
			sb.WriteString(t.Format("15:04"))
		case 's':
			sb.WriteString(strconv.FormatInt(t.Unix(), 10))
		case 'S':
			fmt.Fprintf(&sb, "%02d", t.Second())
		case 't':
			sb.WriteByte('\t')
		case 'T', 'X':
			sb.WriteString(t.Format("15:04:05"))
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			sb.WriteString(strconv.Itoa(wd))
		case 'w':
			sb.WriteString(strconv.Itoa(int(t.Weekday())))
		case 'x':
			sb.WriteString(t.Format("01/02/06"))
		case 'y':
			fmt.Fprintf(&sb, "%02d", t.Year()%100)
		case 'Y':
			sb.WriteString(strconv.Itoa(t.Year()))
		case 'z':
			sb.WriteString(t.Format("-0700"))
		case 'Z':
			sb.WriteString(t.Format("MST"))
		case '%':
			sb.WriteByte('%')
		case '1', '2', '3', '4', '5', '6':
			// Asterisk's extension: %1q..%6q fractions of a second.
			if i+1 < len(format) && format[i+1] == 'q' {
				n := int(format[i] - '0')
				frac := fmt.Sprintf("%09d", t.Nanosecond())
				sb.WriteString(frac[:n])
				i++
			} else {
				sb.WriteByte('%')
				sb.WriteByte(format[i])
			}
		case 'q':
			fmt.Fprintf(&sb, "%03d", t.Nanosecond()/1e6)
		default:
			sb.WriteByte('%')
			sb.WriteByte(format[i])
		}
	}
	return sb.String()
}
