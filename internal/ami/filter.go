package ami

import (
	"fmt"
	"regexp"
	"strings"
)

type matchMethod int

const (
	matchRegex matchMethod = iota
	matchExact
	matchStartsWith
	matchEndsWith
	matchContains
	matchNone
)

// eventFilter is one eventfilter line of a user, legacy ("eventfilter = [!]regex") or
// advanced ("eventfilter(action(exclude),name(X),header(Y),method(Z)) = text"), with the
// semantics of Asterisk 22's manager_add_filter and filter_cmp_fn.
type eventFilter struct {
	exclude bool
	name    string // event name, exact; "" for any
	header  string // "Channel:"; "" for the whole event text
	method  matchMethod
	re      *regexp.Regexp
	text    string
	source  string // the line as written
}

// parseEventFilter parses the variable name (criteria: "eventfilter" or
// "eventfilter(...)") and its value. Regular expressions are Go RE2 syntax run with (?s), the
// nearest to POSIX extended expressions without REG_NEWLINE (what Asterisk uses): "." also
// matches line ends, so "Event: Newchannel.*Channel: Local/" works across lines.
func parseEventFilter(criteria, pattern string) (*eventFilter, error) {
	f := &eventFilter{method: matchRegex, source: criteria + " = " + pattern}
	if strings.HasPrefix(pattern, "!") {
		f.exclude = true
		pattern = pattern[1:]
	}
	open := strings.IndexByte(criteria, '(')
	if open < 0 && pattern == "" {
		return nil, fmt.Errorf("legacy event filter with no filter pattern")
	}
	if open >= 0 {
		f.method = matchNone
		opts := strings.TrimSpace(criteria[open+1:])
		if opts == "" || !strings.HasSuffix(opts, ")") {
			return nil, fmt.Errorf("event filter options not formatted correctly")
		}
		var found struct{ action, name, header, method bool }
		for _, opt := range strings.FieldsFunc(opts, func(r rune) bool { return r == ' ' || r == ',' || r == ')' }) {
			key, arg, ok := strings.Cut(opt, "(")
			arg = strings.TrimSpace(arg)
			if !ok {
				return nil, fmt.Errorf("event filter option %q is unknown", opt)
			}
			switch key {
			case "action":
				switch arg {
				case "include":
					f.exclude = false
				case "exclude":
					f.exclude = true
				default:
					return nil, fmt.Errorf("event filter 'action' option %q is unknown", arg)
				}
				found.action = true
			case "name":
				if arg == "" {
					return nil, fmt.Errorf("event filter 'name' parameter not formatted correctly")
				}
				f.name = arg
				found.name = true
			case "header":
				if arg == "" {
					return nil, fmt.Errorf("event filter 'header' parameter not formatted correctly")
				}
				if !strings.HasSuffix(arg, ":") {
					arg += ":"
				}
				f.header = arg
				found.header = true
			case "method":
				switch arg {
				case "regex":
					f.method = matchRegex
				case "exact":
					f.method = matchExact
				case "starts_with":
					f.method = matchStartsWith
				case "ends_with":
					f.method = matchEndsWith
				case "contains":
					f.method = matchContains
				case "none":
					f.method = matchNone
				default:
					return nil, fmt.Errorf("event filter 'method' option %q is unknown", arg)
				}
				found.method = true
			default:
				return nil, fmt.Errorf("event filter option %q is unknown", opt)
			}
		}
		if !found.action && !found.name && !found.header && !found.method {
			return nil, fmt.Errorf("no action, name, header, or method option found")
		}
		if pattern == "" && f.method != matchNone {
			return nil, fmt.Errorf("event filter method can't be used with no filter pattern")
		}
		if pattern != "" && f.method == matchNone {
			return nil, fmt.Errorf("event filter method can't be 'none' with a filter pattern")
		}
		if !found.name && !found.header && f.method == matchNone {
			return nil, fmt.Errorf("no name or header option found and no filter pattern")
		}
	}
	f.text = pattern
	if f.method == matchRegex && pattern != "" {
		re, err := regexp.Compile("(?s)" + pattern)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %v", pattern, err)
		}
		f.re = re
	}
	return f, nil
}

func (f *eventFilter) matchData(data string) bool {
	switch f.method {
	case matchRegex:
		return f.re.MatchString(data)
	case matchExact:
		return data == f.text
	case matchStartsWith:
		return strings.HasPrefix(data, f.text)
	case matchEndsWith:
		return strings.HasSuffix(data, f.text)
	case matchContains:
		return strings.Contains(data, f.text)
	}
	return true
}

// match tests one event: name is its name, text its full wire form.
func (f *eventFilter) match(name string, text func() string) bool {
	if f.name != "" && f.name != name {
		return false
	}
	if f.header == "" {
		if f.method == matchNone {
			return true
		}
		return f.matchData(text())
	}
	for _, line := range strings.Split(text(), "\r\n") {
		if !strings.HasPrefix(line, f.header) {
			continue
		}
		v := strings.TrimLeft(line[len(f.header):], " \t")
		if v == "" {
			continue
		}
		if f.matchData(v) {
			return true
		}
	}
	return false
}

// filterSet is a user's include and exclude filters.
type filterSet struct {
	include, exclude []*eventFilter
}

func (fs *filterSet) empty() bool { return fs == nil || len(fs.include)+len(fs.exclude) == 0 }

// allows is Asterisk's should_send_event: no filters → everything; include filters only →
// events matching any; exclude filters only → events matching none; both → events matching
// an include filter and no exclude filter.
func (fs *filterSet) allows(name string, text func() string) bool {
	if fs.empty() {
		return true
	}
	if len(fs.include) > 0 {
		ok := false
		for _, f := range fs.include {
			if f.match(name, text) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, f := range fs.exclude {
		if f.match(name, text) {
			return false
		}
	}
	return true
}

func (fs *filterSet) add(f *eventFilter) {
	if f.exclude {
		fs.exclude = append(fs.exclude, f)
	} else {
		fs.include = append(fs.include, f)
	}
}
