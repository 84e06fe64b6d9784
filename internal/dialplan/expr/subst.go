package expr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Env resolves variables and dialplan functions during substitution.
type Env interface {
	// Var returns a variable's value (channel variable, then global); ok=false if unset.
	Var(name string) (value string, ok bool)
	// Func evaluates a dialplan function read, e.g. name "CUT", args "a,b,c" (already substituted).
	Func(ctx context.Context, name, args string) (string, error)
}

// maxErrors bounds the error list Substitute returns.
const maxErrors = 16

// Substitute expands ${VAR}, ${VAR:offset}, ${VAR:offset:length} (negative
// offset/length as Asterisk), ${FUNC(args)}, ${FUNC(args):offset:length},
// $[ expression ] and nesting at any depth (${VAR_${N}}, $[ ${X} + 1 ],
// ${LEN(${X})}). Unset variables expand to "". Function errors expand to ""
// and are reported through the returned error list (the caller logs them).
//
// The result is always usable: errors are diagnostics (joined with
// errors.Join), never a reason to discard the output. A nil env behaves as
// an environment with no variables and no functions.
func Substitute(ctx context.Context, s string, env Env) (string, error) {
	if strings.IndexByte(s, '$') < 0 {
		return s, nil
	}
	st := substituter{ctx: ctx, env: env}
	out := st.run(make([]byte, 0, len(s)+32), s, 0)
	var err error
	if len(st.errs) > 0 {
		if st.dropped > 0 {
			st.errs = append(st.errs, fmt.Errorf("%d more substitution errors not shown", st.dropped))
		}
		err = errors.Join(st.errs...)
	}
	return string(out), err
}

type substituter struct {
	ctx     context.Context
	env     Env
	errs    []error
	dropped int
	stop    bool // output limit reached or context done
}

func (st *substituter) report(err error) {
	if len(st.errs) < maxErrors {
		st.errs = append(st.errs, err)
	} else {
		st.dropped++
	}
}

// add appends s to dst, enforcing MaxOutput.
func (st *substituter) add(dst []byte, s string) []byte {
	if st.stop {
		return dst
	}
	if len(dst)+len(s) > MaxOutput {
		st.stop = true
		st.report(fmt.Errorf("%w: substitution output exceeds %d bytes; truncated", ErrTooLarge, MaxOutput))
		return append(dst, s[:MaxOutput-len(dst)]...)
	}
	return append(dst, s...)
}

// run appends the expansion of s to dst. depth counts enclosing references.
func (st *substituter) run(dst []byte, s string, depth int) []byte {
	i := 0
	for i < len(s) && !st.stop {
		j := i
		for j < len(s) && s[j] != '$' && s[j] != '\\' {
			j++
		}
		dst = st.add(dst, s[i:j])
		if j >= len(s) {
			break
		}
		if s[j] == '\\' {
			// "\$" and "\\" are copied through untouched, and "\$" does
			// not start a reference: the backslash is left for SplitArgs
			// (ast_app_separate_args) to remove.
			if j+1 < len(s) && (s[j+1] == '$' || s[j+1] == '\\') {
				dst = st.add(dst, s[j:j+2])
				i = j + 2
			} else {
				dst = st.add(dst, s[j:j+1])
				i = j + 1
			}
			continue
		}
		if j+1 >= len(s) || (s[j+1] != '{' && s[j+1] != '[') {
			dst = st.add(dst, "$")
			i = j + 1
			continue
		}
		open, close, other := s[j+1], byte('}'), byte('[')
		if open == '[' {
			close, other = ']', '{'
		}
		end, needsub := findClose(s, j+2, open, close, other)
		if end < 0 {
			st.report(fmt.Errorf("%w: missing '%c' after %q", ErrUnbalanced, close, clip(s[j:])))
			dst = st.add(dst, s[j:j+2])
			i = j + 2
			continue
		}
		i = end + 1
		if err := st.ctx.Err(); err != nil {
			st.report(err)
			st.stop = true
			break
		}
		inner := s[j+2 : end]
		if needsub {
			if depth+1 >= MaxDepth {
				st.report(fmt.Errorf("%w: more than %d nested references", ErrTooDeep, MaxDepth))
				continue
			}
			inner = string(st.run(make([]byte, 0, len(inner)+16), inner, depth+1))
			if st.stop {
				break
			}
		}
		if open == '{' {
			dst = st.reference(dst, inner)
		} else {
			res, err := evaluate(st.ctx, inner, st.env)
			if err != nil {
				st.report(err)
			}
			dst = st.add(dst, res)
		}
	}
	return dst
}

// findClose finds the close byte matching an opener whose body starts at
// start, the way pbx_substitute_variables_helper_full does: "$"+open nests,
// a bare open nests, and "$"+other marks the body as needing substitution.
// It returns -1 if the body is unterminated.
func findClose(s string, start int, open, close, other byte) (end int, needsub bool) {
	depth := 1
	for k := start; k < len(s); k++ {
		switch c := s[k]; c {
		case '$':
			if k+1 < len(s) && (s[k+1] == open || s[k+1] == other) {
				needsub = true
				if s[k+1] == open {
					depth++
				}
				k++
			}
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				return k, needsub
			}
		}
	}
	return -1, needsub
}

// reference expands the (already substituted) body of ${...}.
func (st *substituter) reference(dst []byte, body string) []byte {
	name, offset, length, isFunc := parseVariableName(body)
	var val string
	if isFunc {
		fname, args, _ := SplitFunction(name)
		if st.env == nil {
			st.report(fmt.Errorf("%w: unknown function %s()", ErrFunction, fname))
			return dst
		}
		v, err := st.env.Func(st.ctx, fname, args)
		if err != nil {
			st.report(fmt.Errorf("%w: %s(): %w", ErrFunction, fname, err))
			return dst
		}
		val = v
	} else {
		if st.env == nil {
			return dst
		}
		v, ok := st.env.Var(name)
		if !ok {
			return dst
		}
		val = v
	}
	return st.add(dst, substring(val, offset, length))
}

// parseVariableName splits "NAME:offset:length" at the first ':' outside
// parentheses and parses the numbers like sscanf("%d:%d"); a missing or
// malformed offset is 0 and a missing length is "to the end". isFunc
// reports a '(' before that ':'.
func parseVariableName(body string) (name string, offset, length int, isFunc bool) {
	length = math.MaxInt32
	parens := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '(':
			isFunc = true
			parens++
		case ')':
			parens--
		case ':':
			if parens == 0 {
				rest := body[i+1:]
				if o, r, ok := scanInt(rest); ok {
					offset = o
					if len(r) > 0 && r[0] == ':' {
						if l, _, ok := scanInt(r[1:]); ok {
							length = l
						}
					}
				}
				return body[:i], offset, length, isFunc
			}
		}
	}
	return body, 0, length, isFunc
}

// scanInt parses like sscanf's %d: leading white space, optional sign,
// digits. The value saturates at the int32 range.
func scanInt(s string) (int, string, bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	d := i
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n <= math.MaxInt32 {
			n = n*10 + int(s[i]-'0')
		}
	}
	if i == d {
		return 0, s, false
	}
	if n > math.MaxInt32 {
		n = math.MaxInt32
	}
	if neg {
		n = -n
	}
	return n, s[i:], true
}

// substring applies Asterisk's ${VAR:offset:length} rules, in bytes. A
// negative offset counts from the end (clamped to the start); a negative
// length leaves that many bytes off the end.
func substring(s string, offset, length int) string {
	n := len(s)
	if offset == 0 && length >= n {
		return s
	}
	if offset < 0 {
		offset += n
		if offset < 0 {
			offset = 0
		}
	}
	if offset >= n {
		return ""
	}
	s = s[offset:]
	n -= offset
	switch {
	case length >= 0 && length < n:
		return s[:length]
	case length < 0:
		if n > -length {
			return s[:n+length]
		}
		return ""
	}
	return s
}
