package ami

import (
	"strconv"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Class is a set of AMI permission classes (Asterisk's EVENT_FLAG_* bits). An event has a
// class; a user has read classes (which events it may receive) and write classes (which
// actions it may run).
type Class uint32

// The classes, with Asterisk's bit values (include/asterisk/manager.h).
const (
	ClassSystem    Class = 1 << 0
	ClassCall      Class = 1 << 1
	ClassLog       Class = 1 << 2
	ClassVerbose   Class = 1 << 3
	ClassCommand   Class = 1 << 4
	ClassAgent     Class = 1 << 5
	ClassUser      Class = 1 << 6
	ClassConfig    Class = 1 << 7
	ClassDTMF      Class = 1 << 8
	ClassReporting Class = 1 << 9
	ClassCDR       Class = 1 << 10
	ClassDialplan  Class = 1 << 11
	ClassOriginate Class = 1 << 12
	ClassAGI       Class = 1 << 13
	ClassCC        Class = 1 << 15
	ClassAOC       Class = 1 << 16
	ClassTest      Class = 1 << 17
	ClassSecurity  Class = 1 << 18
	ClassMessage   Class = 1 << 30
	// ClassAll is every class (Asterisk's INT_MAX "all").
	ClassAll Class = 0x7fffffff
)

// permNames is Asterisk's perms[] table, in its order (which is the order of the names in a
// Privilege: header).
var permNames = []struct {
	c    Class
	name string
}{
	{ClassSystem, "system"}, {ClassCall, "call"}, {ClassLog, "log"}, {ClassVerbose, "verbose"},
	{ClassCommand, "command"}, {ClassAgent, "agent"}, {ClassUser, "user"}, {ClassConfig, "config"},
	{ClassDTMF, "dtmf"}, {ClassReporting, "reporting"}, {ClassCDR, "cdr"}, {ClassDialplan, "dialplan"},
	{ClassOriginate, "originate"}, {ClassAGI, "agi"}, {ClassCC, "cc"}, {ClassAOC, "aoc"},
	{ClassTest, "test"}, {ClassSecurity, "security"}, {ClassMessage, "message"}, {ClassAll, "all"},
}

// String returns the class list as Asterisk writes it in a Privilege: header or ListCommands
// (authority_to_str): every class whose bit is set, then "all" (always present for a
// non-empty set, as in Asterisk), or "<none>".
func (c Class) String() string {
	if c == 0 {
		return "<none>"
	}
	var b strings.Builder
	for _, p := range permNames {
		if c&p.c != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.name)
		}
	}
	return b.String()
}

// UserString returns the class list as "manager show user" prints it (user_authority_to_str):
// a class is named only when all its bits are set, so "all" appears only for every class.
func (c Class) UserString() string {
	var b strings.Builder
	for _, p := range permNames {
		if c&p.c == p.c {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.name)
		}
	}
	if b.Len() == 0 {
		return "<none>"
	}
	return b.String()
}

// ParseClasses parses a comma-separated class list ("system,call", "all", "none"). Names are
// matched without regard to case and surrounding blanks; an unknown name is returned in bad.
func ParseClasses(s string) (c Class, bad []string) {
	for _, w := range strings.Split(s, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		if w == "none" {
			continue
		}
		found := false
		for _, p := range permNames {
			if p.name == w {
				c |= p.c
				found = true
				break
			}
		}
		if !found {
			bad = append(bad, w)
		}
	}
	return c, bad
}

// eventMask is Asterisk's strings_to_mask for the Events action and Login's Events header: a
// number is the mask itself, a false value 0, a true value every class, otherwise a class list.
// It returns -1 for an empty string.
func eventMask(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return -1
	}
	if n, err := strconv.ParseUint(s, 10, 31); err == nil {
		return int64(n)
	}
	if conf.IsFalse(s) {
		return 0
	}
	if conf.IsTrue(s) {
		return int64(ClassAll)
	}
	c, _ := ParseClasses(s)
	return int64(c)
}
