// Package cli holds the command registry shared by the local console, remote consoles and
// the control socket (and, later, the AMI Command action).
//
// Commands are multi-word ("core show settings"); the longest registered command whose words
// prefix the input runs, with the remaining words as arguments. Output and error shapes follow
// Asterisk's ast_cli_command_full:
//
//   - an unknown command prints "No such command '<line>' (type 'core show help <best>' for
//     other possible commands)", <best> being the line's words up to the first one at which no
//     command of that length shares the words before it (Asterisk's find_best);
//   - a handler that returns ErrUsage makes the registry print the command's usage text;
//   - a handler that returns ErrCommandFailed (Asterisk's CLI_FAILURE), or an error of its
//     own, is followed by "Command '<line>' failed.";
//   - a handler that returns ErrFailed has printed why it failed, as Asterisk does where its
//     command still returns CLI_SUCCESS (no "failed" line).
//
// Every one of these counts as a failure for `pleiades -rx` (exit status 1, or 2 for an
// unknown command), where Asterisk's `asterisk -rx` exits 0 whatever the command did.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// ErrUsage is returned by a handler when its arguments are wrong; the registry prints the
// command's Usage and the run fails.
var ErrUsage = errors.New("cli: show usage")

// ErrNoSuchCommand is returned by Run for a line that names no command.
var ErrNoSuchCommand = errors.New("cli: no such command")

// ErrFailed is returned by a handler that already printed why it failed and only needs the
// run to count as failed: where Asterisk prints the same message and returns CLI_SUCCESS, so
// no "Command '...' failed." line follows.
var ErrFailed = errors.New("cli: command failed")

// ErrCommandFailed is Asterisk's CLI_FAILURE: the handler printed why it failed (or nothing)
// and the registry adds Asterisk's "Command '<line>' failed." line; the run counts as failed.
var ErrCommandFailed = errors.New("cli: command failed (CLI_FAILURE)")

// Command is one CLI command.
type Command struct {
	// Words are the fixed words of the command, e.g. {"database", "show"}.
	Words []string
	// Summary is the one-line description shown by "core show help".
	Summary string
	// Usage is the full usage text printed by "help <command>" and on ErrUsage.
	Usage string
	// Handler runs the command. It writes its output to a.Out.
	Handler func(ctx context.Context, a *Args) error
	// Complete, if set, offers completions for argument number n (0-based, after Words) that
	// starts with word.
	Complete func(a *Args, n int, word string) []string
	// Streams marks a command that runs until something outside it ends it (console dial
	// runs a call): the control socket tells the client so when it starts, and
	// `pleiades -rx` then waits for it without the deadline of its --timeout.
	Streams bool
}

// Name returns the command's words joined by spaces.
func (c *Command) Name() string { return strings.Join(c.Words, " ") }

// Args is what a handler gets.
type Args struct {
	// Line is the whole input line as typed.
	Line string
	// Words is the line split into words (quotes honoured).
	Words []string
	// Rest are the words after the command's own words.
	Rest []string
	// Out receives the command's output.
	Out io.Writer
	// Session is the console the command came from (nil when none, e.g. AMI).
	Session Session
}

// Session is the console a command runs for: commands such as "core set verbose" change the
// console's own settings.
type Session interface {
	SetVerbose(level int)
	Verbose() int
}

// Registry holds the commands. It is safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	cmds []*Command // sorted by name
}

// NewRegistry returns a registry with the built-in "help" and "core show help" commands.
func NewRegistry() *Registry {
	r := &Registry{}
	help := func(ctx context.Context, a *Args) error { return r.help(a) }
	r.MustRegister(
		&Command{Words: []string{"core", "show", "help"}, Summary: "Display help list, or specific help on a command",
			Usage:   "Usage: core show help [topic]\n       When called with a topic as an argument, displays usage\n       information on the given command. If called without a\n       topic, it provides a list of commands.\n",
			Handler: help, Complete: r.completeTopic},
		&Command{Words: []string{"help"}, Summary: "Display help list, or specific help on a command",
			Usage:   "Usage: help [topic]\n       Same as 'core show help'.\n",
			Handler: help, Complete: r.completeTopic},
	)
	return r
}

// Register adds commands; a command whose words are already registered is an error.
func (r *Registry) Register(cmds ...*Command) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cmds {
		if len(c.Words) == 0 || c.Handler == nil {
			return fmt.Errorf("cli: command %q has no words or no handler", c.Name())
		}
		for _, have := range r.cmds {
			if have.Name() == c.Name() {
				return fmt.Errorf("cli: command %q registered twice", c.Name())
			}
		}
		r.cmds = append(r.cmds, c)
	}
	sort.Slice(r.cmds, func(i, j int) bool { return r.cmds[i].Name() < r.cmds[j].Name() })
	return nil
}

// MustRegister is Register for commands compiled into the binary: a clash is a programming error.
func (r *Registry) MustRegister(cmds ...*Command) {
	if err := r.Register(cmds...); err != nil {
		panic(err)
	}
}

// Unregister removes the commands named by their words.
func (r *Registry) Unregister(cmds ...*Command) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.cmds[:0]
	for _, have := range r.cmds {
		drop := false
		for _, c := range cmds {
			if have.Name() == c.Name() {
				drop = true
			}
		}
		if !drop {
			keep = append(keep, have)
		}
	}
	r.cmds = keep
}

// Commands returns every command, sorted by name.
func (r *Registry) Commands() []*Command {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*Command(nil), r.cmds...)
}

// Find returns the command with the most words that prefix words, or nil.
func (r *Registry) Find(words []string) *Command {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *Command
	for _, c := range r.cmds {
		if len(c.Words) > len(words) || (best != nil && len(c.Words) <= len(best.Words)) {
			continue
		}
		if hasPrefixFold(words, c.Words) {
			best = c
		}
	}
	return best
}

func hasPrefixFold(words, prefix []string) bool {
	if len(prefix) > len(words) {
		return false
	}
	for i, w := range prefix {
		if !strings.EqualFold(words[i], w) {
			return false
		}
	}
	return true
}

// Run executes one line. It returns ErrNoSuchCommand, ErrUsage, ErrFailed or the handler's
// error after printing the matching message to out.
func (r *Registry) Run(ctx context.Context, line string, out io.Writer, s Session) error {
	words := Split(line)
	if len(words) == 0 {
		return nil
	}
	c := r.Find(words)
	if c == nil {
		fmt.Fprintf(out, "No such command '%s' (type 'core show help %s' for other possible commands)\n", strings.TrimSpace(line), r.findBest(words))
		return ErrNoSuchCommand
	}
	a := &Args{Line: line, Words: words, Rest: words[len(c.Words):], Out: out, Session: s}
	err := c.Handler(ctx, a)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUsage):
		io.WriteString(out, c.Usage)
		if !strings.HasSuffix(c.Usage, "\n") {
			io.WriteString(out, "\n")
		}
	case errors.Is(err, ErrFailed):
	case errors.Is(err, ErrCommandFailed):
		fmt.Fprintf(out, "Command '%s' failed.\n", strings.TrimSpace(line))
	default:
		fmt.Fprintf(out, "%s\n", err)
		fmt.Fprintf(out, "Command '%s' failed.\n", strings.TrimSpace(line))
	}
	return err
}

// findBest is Asterisk's find_best: the words of an unknown command line up to and including
// the first one at which no command of that many words shares the words before it.
func (r *Registry) findBest(words []string) string {
	for k := 1; k <= len(words); k++ {
		if !r.near(words[:k]) {
			return strings.Join(words[:k], " ")
		}
	}
	return strings.Join(words, " ")
}

// near reports whether a command has exactly len(prefix) words and shares all but the last.
func (r *Registry) near(prefix []string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, c := range r.cmds {
		if len(c.Words) == len(prefix) && hasPrefixFold(prefix[:len(prefix)-1], c.Words[:len(prefix)-1]) {
			return true
		}
	}
	return false
}

func (r *Registry) help(a *Args) error {
	if len(a.Rest) > 0 {
		words := a.Rest
		c := r.Find(words)
		if c != nil && len(c.Words) == len(words) {
			io.WriteString(a.Out, c.Usage)
			if !strings.HasSuffix(c.Usage, "\n") {
				io.WriteString(a.Out, "\n")
			}
			return nil
		}
	}
	matched := 0
	for _, c := range r.Commands() {
		if len(a.Rest) > 0 && !wordsPrefix(c.Words, a.Rest) {
			continue
		}
		matched++
		fmt.Fprintf(a.Out, "%-30.30s %s\n", c.Name(), c.Summary)
	}
	if matched == 0 {
		fmt.Fprintf(a.Out, "No such command '%s'.\n", strings.Join(a.Rest, " "))
		return ErrFailed
	}
	return nil
}

// wordsPrefix reports whether typed (the last word possibly partial) prefixes words.
func wordsPrefix(words, typed []string) bool {
	if len(typed) > len(words) {
		return false
	}
	for i, t := range typed {
		w := strings.ToLower(words[i])
		t = strings.ToLower(t)
		if i == len(typed)-1 {
			if !strings.HasPrefix(w, t) {
				return false
			}
		} else if w != t {
			return false
		}
	}
	return true
}

func (r *Registry) completeTopic(a *Args, n int, word string) []string {
	typed := append(append([]string(nil), a.Rest[:n]...), word)
	return r.completeWords(typed)
}

// completeWords completes the last of typed against command words.
func (r *Registry) completeWords(typed []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range r.Commands() {
		if len(c.Words) < len(typed) || !wordsPrefix(c.Words, typed) {
			continue
		}
		w := c.Words[len(typed)-1]
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// Complete returns the candidates for the last (possibly empty) word of line: command words
// first, then the command's own argument completion.
func (r *Registry) Complete(line string) []string {
	words := Split(line)
	if len(words) == 0 || strings.HasSuffix(line, " ") {
		words = append(words, "")
	}
	out := r.completeWords(words)
	if c := r.Find(words[:len(words)-1]); c != nil && c.Complete != nil {
		rest := words[len(c.Words):]
		a := &Args{Line: line, Words: words, Rest: rest[:len(rest)-1]}
		out = append(out, c.Complete(a, len(rest)-1, rest[len(rest)-1])...)
	}
	sort.Strings(out)
	return out
}

// Split breaks a command line into words. Double quotes group words ("a b") and a backslash
// escapes the next character, as in Asterisk's CLI.
func Split(line string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted, esc := false, false, false
	for _, r := range line {
		switch {
		case esc:
			cur.WriteRune(r)
			esc, inWord = false, true
		case r == '\\':
			esc, inWord = true, true
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t' || r == '\n' || r == '\r') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
