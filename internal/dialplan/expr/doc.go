// Package expr implements Asterisk's dialplan variable substitution
// (main/pbx_variables.c, pbx_substitute_variables_helper) and its $[ ]
// expression language (main/ast_expr2.y and ast_expr2.fl), plus the
// argument splitting applications use (main/app.c,
// ast_app_separate_args). It is a clean-room Go implementation: a
// hand-written scanner for substitution, and a hand-written lexer with a
// precedence-climbing parser that evaluates while it parses (no AST, no
// allocation for plain arithmetic).
//
// # Substitution
//
// Substitute scans left to right. "${" and "$[" open a reference whose end
// is found by counting braces (or brackets) exactly as Asterisk does; if the
// body contains a nested "${" or "$[" it is substituted first (this is how
// ${VAR_${N}}, ${LEN(${X})} and $[ ${X} + 1 ] work). Values are never
// re-substituted, so the work is bounded by the input size and MaxDepth.
//
//   - ${NAME} looks the variable up through Env.Var; an unset variable
//     expands to "".
//   - ${NAME(args)} (a '(' before the first top-level ':') calls Env.Func
//     with NAME and the text between the first '(' and the last ')'. A
//     failing function expands to "" and its error is returned.
//   - ${REF:offset:length} takes a substring in bytes (Asterisk is
//     byte-oriented too). The numbers are read like sscanf("%d:%d"): a
//     negative offset counts from the end and is clamped to the start, a
//     negative length drops that many bytes from the end, a missing length
//     means "to the end", and a malformed offset (including the empty one in
//     "${X::3}") leaves the whole value, which is what current Asterisk does.
//   - $[ expr ] is evaluated with the expression language below; dialplan
//     functions called inside it go to Env.Func.
//   - A '$' not followed by '{' or '[' is literal.
//
// Choices that differ from, or go beyond, Asterisk:
//
//   - Escapes. Asterisk's substitution knows no escapes. Here "\$" does not
//     start a reference and "\\" is an escaped backslash; both pairs are
//     copied through unchanged so that SplitArgs (which drops the escaping
//     backslash) yields a literal "$" or "\" afterwards. Other backslashes
//     are ordinary bytes.
//   - Unbalanced references. Asterisk logs "missing '}'" and uses the rest
//     of the string as the reference. Here the unterminated "${" or "$[" is
//     copied literally, scanning resumes right after it (later references
//     still expand) and ErrUnbalanced is reported.
//   - Limits. References nest at most MaxDepth (64) levels; deeper ones
//     expand to "" with ErrTooDeep (Asterisk stops at its own depth limit
//     the same way). Every result is capped at MaxOutput (1 MiB) and
//     truncated with ErrTooLarge; Asterisk silently truncates at 8 KiB per
//     buffer. The context is checked before each reference, and function
//     and expression errors are collected (at most 16, joined with
//     errors.Join) rather than logged.
//
// # Expressions
//
// Operators, lowest precedence first (all binary operators are
// left-associative):
//
//	a ? b :: c            ternary; '::' separates the branches
//	a | b   (also ||)     a if it is neither "" nor zero, else b
//	a & b   (also &&)     a if neither is "" nor zero, else 0
//	= == != < > <= >=     numeric if neither operand is a non-numeric string, else byte-wise; 1 or 0
//	+ -                   addition, subtraction
//	* / %                 multiplication, floating-point division, fmod
//	- !                   unary minus and complement (right-associative)
//	: =~ ~~               anchored match, unanchored match, concatenation
//	( )  NAME(a, b, ...)  grouping, function call
//
// Note that the unary operators bind more loosely than ':' and '=~', so
// "!a : b" is "!(a : b)", as in Asterisk's grammar.
//
// Operands are bare words ([A-Za-z0-9.';\_^#@], bytes >= 0x80 and '$'
// followed by anything but '{'), numbers ([0-9]+(.[0-9]+)?), double-quoted
// strings, or leftover ${...} text (which stays literal: Eval does not
// substitute). Blanks separate tokens; bytes matching no rule (such as '['
// or a lone '~' or '"') are ignored, as flex's default rule does in
// Asterisk.
//
// Values behave as in ast_expr2: a numeric-looking operand keeps its text
// until arithmetic needs its value ("$[ 007 ]" is "007", "$[ 007 + 0 ]" is
// "7"); a quoted string keeps its quotes ("$[ "a b" ]" is `"a b"` and
// `"1" = 1` is a string comparison, false), and only ':', '=~' and '~~'
// strip them. Arithmetic on a non-numeric operand follows Asterisk's
// fallbacks without error: x + str is x, str - x is -x, str * x is 0, -str
// is 0. '!' of a string is !atoi(string), so "!abc" is 1.
//
// Regular expressions are POSIX extended (Go's CompilePOSIX, leftmost-
// longest). With a capture group the result is the first group's text
// ("" when there is no match), otherwise the length of the match (0 when
// there is none). ':' only matches at the start of the string. Patterns
// larger than 4 KiB or whose compiled program, multiplied by the subject
// length, is too large are rejected with ErrRegex (result "") so hostile
// input cannot make matching slow; compiled patterns are cached.
//
// Numbers are float64 (Asterisk uses long double). Results print like
// "%.18Lg": integers below 1e18 in full (4/2 is "2", 3/2 is "1.5"), other
// values with 15 significant digits so binary noise is hidden (0.1 + 0.2 is
// "0.3"), exponents as "1e+20"; -0 prints as "0", and NaN and infinities as
// "nan", "inf" and "-inf".
//
// Functions inside expressions: COS SIN TAN ACOS ASIN ATAN ATAN2 POW SQRT
// FLOOR CEIL ROUND RINT TRUNC EXP EXP2 EXP10 LOG (natural) LOG2 LOG10
// REMAINDER ABS are built in, as in Asterisk. Any other upper-case name is
// a dialplan function read through Env.Func with the arguments joined by
// ','; a result made of digits, '-', '.' and blanks becomes a number. With
// no Env (Eval) or on failure the call yields 0 and ErrFunction is
// reported. Unlike Asterisk, an empty argument list "F()" is accepted.
//
// Errors and results:
//
//   - A syntax error makes the whole expression "0" (Asterisk's parser
//     returns no value and ast_expr prints "0") and returns ErrSyntax.
//   - Division or remainder by zero, or by a non-numeric operand, makes the
//     whole expression "" and returns ErrDivisionByZero. Asterisk logs a
//     warning and yields 2147483647 (x % 0 yields 0); Pleiades prefers an
//     empty, visibly wrong result over a plausible large number.
//   - Function and regex errors are non-fatal: the operand takes its
//     Asterisk fallback value, evaluation continues, the error is returned.
//   - An empty expression "$[]" is "".
//
// Asterisk evaluates every operand. Pleiades does too, but in the operand
// whose value is discarded — the branch of '?' not taken, the right side of
// '|' when the left decides, of '&' when the left is zero — division by
// zero and function/regex errors are not reported and dialplan functions
// are not called, so "$[ ${N} = 0 ? 0 :: 100 / ${N} ]" works for N = 0.
//
// # Arguments
//
// SplitArgs separates application and function arguments as
// ast_app_separate_args does (quotes and escaping backslashes removed,
// separators nested in (), [] or ${} ignored), and SplitAppData splits an
// extensions.conf priority's "App(args)" or "App,args" text.
package expr
