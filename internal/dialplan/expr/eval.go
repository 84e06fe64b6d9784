package expr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
)

// Errors reported by Eval and Substitute. They are wrapped with details;
// test with errors.Is.
var (
	// ErrSyntax reports a malformed $[ ] expression. The expression
	// evaluates to "0", as in Asterisk.
	ErrSyntax = errors.New("expression syntax error")
	// ErrDivisionByZero reports x/0, x%0 or a non-numeric divisor. The
	// whole expression evaluates to "" (Asterisk returns INT_MAX instead).
	ErrDivisionByZero = errors.New("division by zero")
	// ErrFunction reports a function that is unknown, was given the wrong
	// number of arguments, or failed. In an expression it yields 0; in a
	// ${FUNC()} reference it expands to "".
	ErrFunction = errors.New("function error")
	// ErrRegex reports a regular expression that does not compile or is
	// too expensive to run; the match operator yields "".
	ErrRegex = errors.New("bad regular expression")
	// ErrTooDeep reports nesting beyond MaxDepth (substitution) or
	// MaxExprNesting (expression parentheses and unary operators).
	ErrTooDeep = errors.New("nesting too deep")
	// ErrTooLarge reports input or output beyond MaxOutput; the output
	// is truncated.
	ErrTooLarge = errors.New("result too large")
	// ErrUnbalanced reports a "${" without its "}" or a "$[" without its
	// "]"; the opener is copied literally.
	ErrUnbalanced = errors.New("unbalanced reference")
)

const (
	// MaxDepth bounds the nesting of ${...} and $[...] during Substitute.
	MaxDepth = 64
	// MaxOutput bounds the size in bytes of any intermediate or final
	// result of Substitute and the size of Eval's input.
	MaxOutput = 1 << 20
	// MaxExprNesting bounds parentheses, unary operators and function
	// arguments nested inside one expression.
	MaxExprNesting = 256

	maxRegexPattern = 4096     // bytes
	maxRegexInsts   = 20000    // compiled program size
	maxRegexWork    = 64 << 20 // subject length × program size
	intMax          = math.MaxInt32
)

// Eval evaluates the body of a $[ ] expression that has already been
// substituted and returns its printed result.
//
// On error the returned string is still the value Substitute inserts:
// "0" for a syntax error, "" for a division by zero or a limit, and the
// Asterisk fallback value for the non-fatal ErrFunction and ErrRegex.
// Eval has no Env, so only the built-in math functions are available.
func Eval(expr string) (string, error) {
	return evaluate(context.Background(), expr, nil)
}

type fatal struct{ err error }

type evaluator struct {
	ctx   context.Context
	env   Env
	lx    lexer
	tok   token
	dead  int // >0 while evaluating an operand whose value is discarded
	depth int
	errs  []error
}

func evaluate(ctx context.Context, expr string, env Env) (res string, err error) {
	if len(expr) > MaxOutput {
		return "", fmt.Errorf("%w: expression of %d bytes", ErrTooLarge, len(expr))
	}
	p := evaluator{ctx: ctx, env: env, lx: lexer{s: expr}}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			res, err = "", f.err
			if errors.Is(f.err, ErrSyntax) {
				res = "0"
			}
		}
	}()
	p.advance()
	if p.tok.typ == tEOF {
		return "", nil
	}
	v := p.parseExpr(1)
	if p.tok.typ != tEOF {
		p.syntaxError()
	}
	return v.str(), errors.Join(p.errs...)
}

func (p *evaluator) advance() { p.tok = p.lx.next() }

func (p *evaluator) syntaxError() {
	what := p.tok.typ.String()
	if p.tok.typ == tToken {
		what = fmt.Sprintf("%q", p.tok.val.s)
	}
	panic(fatal{fmt.Errorf("%w: unexpected %s at offset %d in %q", ErrSyntax, what, p.tok.pos, clip(p.lx.s))})
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// soft records a non-fatal error unless the operand is being discarded.
func (p *evaluator) soft(err error) {
	if p.dead == 0 && len(p.errs) < 8 {
		p.errs = append(p.errs, err)
	}
}

func (p *evaluator) enter() {
	p.depth++
	if p.depth > MaxExprNesting {
		panic(fatal{fmt.Errorf("%w: more than %d nested operators in expression", ErrTooDeep, MaxExprNesting)})
	}
}

// Binding powers, low to high; the unary operators sit between the
// multiplicative and the regex operators, as in ast_expr2.y.
const (
	precCond  = 1
	precOr    = 2
	precAnd   = 3
	precCmp   = 4
	precAdd   = 5
	precMul   = 6
	precUnary = 7
	precRegex = 8
)

func binaryPrec(t tokType) int {
	switch t {
	case tCond:
		return precCond
	case tOr:
		return precOr
	case tAnd:
		return precAnd
	case tEq, tNe, tLt, tGt, tLe, tGe:
		return precCmp
	case tPlus, tMinus:
		return precAdd
	case tMul, tDiv, tMod:
		return precMul
	case tColon, tEqTilde, tTildeTilde:
		return precRegex
	}
	return 0
}

// parseExpr parses and evaluates an expression whose binary operators all
// bind at least as tightly as minPrec. All binary operators are
// left-associative.
func (p *evaluator) parseExpr(minPrec int) value {
	left := p.parseUnary()
	for {
		op := p.tok.typ
		prec := binaryPrec(op)
		if prec == 0 || prec < minPrec {
			return left
		}
		p.advance()
		switch op {
		case tCond:
			left = p.ternary(&left)
		case tOr:
			// The right operand is evaluated (Asterisk evaluates
			// everything), but its errors are ignored when the left
			// operand decides the result.
			decided := !left.isZeroOrNull()
			if decided {
				p.dead++
			}
			right := p.parseExpr(prec + 1)
			if decided {
				p.dead--
			} else {
				left = right
			}
		case tAnd:
			decided := left.isZeroOrNull()
			if decided {
				p.dead++
			}
			right := p.parseExpr(prec + 1)
			if decided {
				p.dead--
				left = numberValue(0)
			} else if right.isZeroOrNull() {
				left = numberValue(0)
			}
		default:
			right := p.parseExpr(prec + 1)
			left = p.binary(op, left, right)
		}
	}
}

// ternary handles "cond ? a :: b" after the '?' has been consumed.
func (p *evaluator) ternary(cond *value) value {
	var truth bool
	if cond.k == kString {
		truth = cond.s != "" && cond.s != `""` && cond.s != "0"
	} else {
		cond.toNumber()
		truth = cond.k == kNumber && cond.f != 0
	}
	p.enter()
	if !truth {
		p.dead++
	}
	a := p.parseExpr(precCond) // a nested ternary may appear here
	if !truth {
		p.dead--
	}
	if p.tok.typ != tColonColon {
		p.syntaxError()
	}
	p.advance()
	if truth {
		p.dead++
	}
	b := p.parseExpr(precCond + 1)
	if truth {
		p.dead--
	}
	p.depth--
	if truth {
		return a
	}
	return b
}

func (p *evaluator) parseUnary() value {
	switch p.tok.typ {
	case tMinus, tCompl:
		op := p.tok.typ
		p.enter()
		p.advance()
		v := p.parseExpr(precRegex) // unary binds looser than : =~ ~~
		p.depth--
		if op == tMinus {
			if !v.toNumber() {
				return numberValue(0)
			}
			return numberValue(-v.f)
		}
		return numberValue(compl(v))
	}
	return p.parsePrimary()
}

// compl implements '!': 1 for a zero, empty or "0" operand; for other
// strings the result is !atoi(s), as in Asterisk (so !abc is 1).
func compl(v value) float64 {
	if v.k == kNumber {
		if v.f == 0 {
			return 1
		}
		return 0
	}
	if v.s == "" || v.s == "0" || atoi(v.s) == 0 {
		return 1
	}
	return 0
}

func (p *evaluator) parsePrimary() value {
	switch p.tok.typ {
	case tToken:
		v := p.tok.val
		p.advance()
		if p.tok.typ == tLP {
			return p.call(v.s)
		}
		return v
	case tLP:
		p.enter()
		p.advance()
		v := p.parseExpr(1)
		if p.tok.typ != tRP {
			p.syntaxError()
		}
		p.advance()
		p.depth--
		return v
	}
	p.syntaxError()
	return value{}
}

// call parses the argument list of name( ... ) and evaluates the call.
func (p *evaluator) call(name string) value {
	p.enter()
	p.advance() // '('
	var args []value
	if p.tok.typ != tRP {
		args = append(args, p.parseExpr(1))
		for p.tok.typ == tComma {
			p.advance()
			if p.tok.typ == tComma || p.tok.typ == tRP {
				args = append(args, value{k: kString})
				continue
			}
			args = append(args, p.parseExpr(1))
		}
	}
	if p.tok.typ != tRP {
		p.syntaxError()
	}
	p.advance()
	p.depth--
	return p.function(name, args)
}

func (p *evaluator) binary(op tokType, a, b value) value {
	switch op {
	case tEq, tNe, tLt, tGt, tLe, tGe:
		return numberValue(compare(op, a, b))
	case tPlus:
		an, bn := a.toNumber(), b.toNumber()
		switch {
		case an && bn:
			return numberValue(a.f + b.f)
		case an:
			return a
		case bn:
			return b
		}
		return numberValue(0)
	case tMinus:
		an, bn := a.toNumber(), b.toNumber()
		switch {
		case an && bn:
			return numberValue(a.f - b.f)
		case an:
			return a
		case bn:
			return numberValue(-b.f)
		}
		return numberValue(0)
	case tMul:
		if !a.toNumber() || !b.toNumber() {
			return numberValue(0)
		}
		return numberValue(a.f * b.f)
	case tDiv, tMod:
		if !a.toNumber() {
			return numberValue(0)
		}
		if !b.toNumber() || b.f == 0 {
			if p.dead > 0 {
				return numberValue(intMax) // discarded anyway; Asterisk's value
			}
			what := "zero"
			if b.k != kNumber {
				what = fmt.Sprintf("non-numeric %q", b.s)
			}
			panic(fatal{fmt.Errorf("%w: %s %s %s", ErrDivisionByZero, a.str(), strings.Trim(op.String(), "'"), what)})
		}
		if op == tDiv {
			return numberValue(a.f / b.f)
		}
		return numberValue(math.Mod(a.f, b.f))
	case tColon, tEqTilde:
		return p.match(a, b, op == tColon)
	case tTildeTilde:
		a.toString()
		b.toString()
		return strValue(stripQuotes(a.s) + stripQuotes(b.s))
	}
	panic("unreachable")
}

// compare compares numerically when neither operand is a plain string,
// else byte-wise (strcoll in the C locale).
func compare(op tokType, a, b value) float64 {
	var c int
	if a.k != kString && b.k != kString && a.toNumber() && b.toNumber() {
		switch {
		case a.f < b.f:
			c = -1
		case a.f > b.f:
			c = 1
		case a.f != b.f: // NaN: every relation but != is false
			if op == tNe {
				return 1
			}
			return 0
		}
	} else {
		c = strings.Compare(a.str(), b.str())
	}
	var r bool
	switch op {
	case tEq:
		r = c == 0
	case tNe:
		r = c != 0
	case tLt:
		r = c < 0
	case tGt:
		r = c > 0
	case tLe:
		r = c <= 0
	case tGe:
		r = c >= 0
	}
	if r {
		return 1
	}
	return 0
}

// match implements ':' (anchored at the start) and '=~' with POSIX
// extended regular expressions and leftmost-longest semantics.
func (p *evaluator) match(a, b value, anchored bool) value {
	subject, pattern := stripQuotes(a.str()), stripQuotes(b.str())
	re, insts, err := compileRegex(pattern)
	if err == nil && len(subject)*insts > maxRegexWork {
		err = fmt.Errorf("%w: matching %d bytes against %q is too expensive", ErrRegex, len(subject), clip(pattern))
	}
	if err != nil {
		p.soft(err)
		return value{k: kString}
	}
	loc := re.FindStringSubmatchIndex(subject)
	if loc == nil || (anchored && loc[0] != 0) {
		if re.NumSubexp() == 0 {
			return numberValue(0)
		}
		return value{k: kString}
	}
	if len(loc) >= 4 && loc[2] >= 0 {
		return strValue(subject[loc[2]:loc[3]])
	}
	return numberValue(float64(loc[1] - loc[0]))
}

type regexEntry struct {
	re    *regexp.Regexp
	insts int
	err   error
}

var regexCache struct {
	sync.Mutex
	m map[string]regexEntry
}

const regexCacheSize = 256

func compileRegex(pattern string) (*regexp.Regexp, int, error) {
	regexCache.Lock()
	e, ok := regexCache.m[pattern]
	regexCache.Unlock()
	if ok {
		return e.re, e.insts, e.err
	}
	e = compileRegexUncached(pattern)
	if len(pattern) <= 1024 {
		regexCache.Lock()
		if regexCache.m == nil || len(regexCache.m) >= regexCacheSize {
			regexCache.m = make(map[string]regexEntry, regexCacheSize)
		}
		regexCache.m[pattern] = e
		regexCache.Unlock()
	}
	return e.re, e.insts, e.err
}

func compileRegexUncached(pattern string) regexEntry {
	if len(pattern) > maxRegexPattern {
		return regexEntry{err: fmt.Errorf("%w: pattern of %d bytes", ErrRegex, len(pattern))}
	}
	// Size the program first so that a short pattern with big repeat
	// counts cannot make matching expensive.
	tree, err := syntax.Parse(pattern, syntax.POSIX)
	if err != nil {
		return regexEntry{err: fmt.Errorf("%w: %q: %v", ErrRegex, clip(pattern), err)}
	}
	prog, err := syntax.Compile(tree.Simplify())
	if err != nil {
		return regexEntry{err: fmt.Errorf("%w: %q: %v", ErrRegex, clip(pattern), err)}
	}
	if len(prog.Inst) > maxRegexInsts {
		return regexEntry{err: fmt.Errorf("%w: %q compiles to %d instructions", ErrRegex, clip(pattern), len(prog.Inst))}
	}
	re, err := regexp.CompilePOSIX(pattern)
	if err != nil {
		return regexEntry{err: fmt.Errorf("%w: %q: %v", ErrRegex, clip(pattern), err)}
	}
	return regexEntry{re: re, insts: max(len(prog.Inst), 1)}
}

// function evaluates NAME(args) inside an expression: a built-in math
// function, else a dialplan function through the Env.
func (p *evaluator) function(name string, args []value) value {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			p.soft(fmt.Errorf("%w: %q is not a function name", ErrFunction, clip(name)))
			return numberValue(0)
		}
	}
	if fn, ok := mathFuncs[name]; ok {
		if len(args) != fn.arity {
			p.soft(fmt.Errorf("%w: %s() takes %d argument(s), got %d", ErrFunction, name, fn.arity, len(args)))
			return numberValue(0)
		}
		var x [2]float64
		for i := range args {
			if args[i].toNumber() {
				x[i] = args[i].f
			}
		}
		return numberValue(fn.f(x[0], x[1]))
	}
	if p.env == nil {
		p.soft(fmt.Errorf("%w: unknown function %s()", ErrFunction, name))
		return numberValue(0)
	}
	if p.dead > 0 {
		return numberValue(0) // do not run a dialplan function whose result is discarded
	}
	var sb strings.Builder
	for i, a := range args {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(a.str())
	}
	res, err := p.env.Func(p.ctx, name, sb.String())
	if err != nil {
		p.soft(fmt.Errorf("%w: %s(): %w", ErrFunction, name, err))
		return numberValue(0)
	}
	if len(res) > MaxOutput {
		res = res[:MaxOutput]
	}
	if strings.Trim(res, "-0123456789. \t") == "" {
		f, _ := strtod(res)
		return numberValue(f)
	}
	return strValue(res)
}

// strtod parses the longest prefix of s of the form [ \t]*-?[0-9]*(\.[0-9]*)?.
func strtod(s string) (float64, bool) {
	s = strings.TrimLeft(s, " \t")
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	f, ok := parseNumPrefix(s)
	if neg {
		f = -f
	}
	return f, ok
}

type mathFunc struct {
	arity int
	f     func(x, y float64) float64
}

func unary(f func(float64) float64) mathFunc {
	return mathFunc{1, func(x, _ float64) float64 { return f(x) }}
}

// mathFuncs are the functions ast_expr2 implements itself.
var mathFuncs = map[string]mathFunc{
	"COS":       unary(math.Cos),
	"SIN":       unary(math.Sin),
	"TAN":       unary(math.Tan),
	"ACOS":      unary(math.Acos),
	"ASIN":      unary(math.Asin),
	"ATAN":      unary(math.Atan),
	"ATAN2":     {2, math.Atan2},
	"POW":       {2, math.Pow},
	"SQRT":      unary(math.Sqrt),
	"FLOOR":     unary(math.Floor),
	"CEIL":      unary(math.Ceil),
	"ROUND":     unary(math.Round),
	"RINT":      unary(math.RoundToEven),
	"TRUNC":     unary(math.Trunc),
	"EXP":       unary(math.Exp),
	"EXP2":      unary(math.Exp2),
	"EXP10":     unary(func(x float64) float64 { return math.Pow(10, x) }),
	"LOG":       unary(math.Log),
	"LOG2":      unary(math.Log2),
	"LOG10":     unary(math.Log10),
	"REMAINDER": {2, math.Remainder},
	"ABS":       unary(math.Abs),
}
