package expr

import "strings"

// SplitArgs splits application or function arguments on sep (',' when sep
// is 0) the way Asterisk's ast_app_separate_args does:
//
//   - separators inside (...), [...] (hence $[...]) or ${...} do not split;
//   - double quotes toggle quoting, separators inside quotes do not split,
//     and the quote characters are removed (unless sep is '"');
//   - a backslash makes the next byte literal and is removed ("\," is a
//     comma that does not split, "\\" is one backslash);
//   - a trailing separator yields a final empty argument; "" yields no
//     arguments at all.
//
// Unlike Asterisk, ${ opens a brace level (a bare '{' does not), so a
// reference whose body holds a separator outside parentheses stays whole.
func SplitArgs(s string, sep byte) []string {
	if sep == 0 {
		sep = ','
	}
	if s == "" {
		return nil
	}
	var (
		args                   []string
		cur                    strings.Builder
		paren, bracket, braces int
		quote                  bool
		start                  = 0 // start of the current argument while cur is unused
		copying                bool
	)
	// Arguments without quotes or backslashes are sliced from s; cur is
	// only used once an argument needs editing.
	flush := func(end int) {
		if copying {
			args = append(args, cur.String())
			cur.Reset()
			copying = false
		} else {
			args = append(args, s[start:end])
		}
	}
	edit := func(i int) {
		if !copying {
			cur.WriteString(s[start:i])
			copying = true
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '(':
			paren++
		case c == ')':
			if paren > 0 {
				paren--
			}
		case c == '[':
			bracket++
		case c == ']':
			if bracket > 0 {
				bracket--
			}
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			braces++
			if copying {
				cur.WriteString("${")
			}
			i++
			continue
		case c == '}':
			if braces > 0 {
				braces--
			}
		case c == '"' && sep != '"':
			edit(i)
			quote = !quote
			continue
		case c == '\\':
			edit(i)
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
			continue
		case c == sep && paren == 0 && bracket == 0 && braces == 0 && !quote:
			flush(i)
			start = i + 1
			continue
		}
		if copying {
			cur.WriteByte(c)
		}
	}
	flush(len(s))
	return args
}

// SplitAppData splits a priority's application part into the application
// name and its data, accepting both "App(args)" and the old "App,args"
// form. For "App(args)" the data runs to the last ')' (or to the end when
// there is none), as pbx_config does; when the text before the first '('
// contains "${" or "$[" (e.g. a hint like "DAHDI/g0/${GLOBAL(x)}") the whole
// string is the application and data is empty. The name is trimmed of
// blanks; the data is returned verbatim, unsubstituted.
func SplitAppData(s string) (app, data string) {
	open := strings.IndexByte(s, '(')
	comma := strings.IndexByte(s, ',')
	switch {
	case open >= 0 && (comma < 0 || open < comma):
		app, data = s[:open], s[open+1:]
		if strings.Contains(app, "${") || strings.Contains(app, "$[") {
			return strings.TrimSpace(s), ""
		}
		if c := strings.LastIndexByte(data, ')'); c >= 0 {
			data = data[:c]
		}
	case comma >= 0:
		app, data = s[:comma], s[comma+1:]
	default:
		app = s
	}
	return strings.TrimSpace(app), data
}

// EscapeCommas puts a '\' before every '\' and ',' of s (Asterisk's
// ast_str_set_escapecommas), so that SplitArgs reads the value back as one argument when it
// holds no quotes, brackets or "${": the inverse used by REALTIME_HASH, func_odbc's results
// and every other list of values meant for HASH() or ARRAY().
func EscapeCommas(s string) string {
	if !strings.ContainsAny(s, `\,`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == ',' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// SplitFunction splits a function reference "NAME(args)" as Asterisk's func_args does: name
// is the text before the first '(', args the text between it and the last ')'. ok is false
// when s has no '(' (name is then all of s, args "") or no ')' after it (args then runs to the
// end of s, which is what Asterisk calls the function with, after a warning). Blanks are kept.
// This is the one parser of "NAME(args)": ${NAME(args)}, Set(NAME(args)=v), AMI Getvar and
// Setvar.
func SplitFunction(s string) (name, args string, ok bool) {
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return s, "", false
	}
	name, args = s[:open], s[open+1:]
	if c := strings.LastIndexByte(args, ')'); c >= 0 {
		return name, args[:c], true
	}
	return name, args, false
}

// FunctionCall reports whether s, given where a variable name is expected (AMI Getvar and
// Setvar), calls a function: it ends in ')' (Asterisk's test) and has a name before its first
// '('. name and args are SplitFunction's.
func FunctionCall(s string) (name, args string, ok bool) {
	if !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	name, args, ok = SplitFunction(s)
	return name, args, ok && name != ""
}
