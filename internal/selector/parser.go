package selector

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// kind is the static type of an expression, known when the selector is
// compiled. User properties have kind kText: their type is only known per
// message, from their text and from what they are compared with.
type kind uint8

const (
	kBool kind = iota
	kNum
	kStr
	kText
)

// describeKind names a kind for error messages.
func describeKind(k kind) string {
	switch k {
	case kBool:
		return "a condition"
	case kNum:
		return "a number"
	case kStr:
		return "a string"
	}
	return "a property"
}

// operand is a parsed subexpression with what the parser needs to check the
// expressions built from it.
type operand struct {
	e   expr
	k   kind
	pos int
	// h is the height of e's tree; MaxDepth bounds it so that evaluation
	// and printing recurse a bounded number of times.
	h int
}

// parser is a recursive-descent parser with one token of lookahead. Each
// method parses one precedence level of the JMS grammar, loosest first:
// OR, AND, NOT, comparison, additive, multiplicative, unary sign, primary.
type parser struct {
	lx   lexer
	tok  token // the current, not yet consumed, token
	prev token // the last consumed token, for messages
	// depth counts the recursive descents in progress through parentheses,
	// NOT and signs, which MaxDepth bounds to keep the Go stack small.
	depth int
}

// errAt builds a SyntaxError at pos of the selector being parsed.
func (p *parser) errAt(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Selector: p.lx.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// advance consumes the current token.
func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.prev, p.tok = p.tok, t
	return nil
}

// expect consumes a token of kind k or fails with what.
func (p *parser) expect(k tokKind, what string) error {
	if p.tok.kind != k {
		return p.errAt(p.tok.pos, "expected %s, found %s", what, p.tok.describe(p.lx.src))
	}
	return p.advance()
}

// enter and leave bracket a recursive descent.
// pos is where the nesting construct starts, for the error.
func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errAt(pos, "selector nests too deeply")
	}
	return nil
}

// leave ends a descent that enter began.
func (p *parser) leave() { p.depth-- }

// build wraps e as an operand one level above its children, rejecting trees
// taller than MaxDepth: long chains such as a+a+...+a nest without any
// parentheses.
func (p *parser) build(e expr, k kind, pos int, children ...operand) (operand, error) {
	h := 0
	for _, c := range children {
		h = max(h, c.h)
	}
	if h+1 > MaxDepth {
		return operand{}, p.errAt(pos, "selector nests too deeply")
	}
	return operand{e: e, k: k, pos: pos, h: h + 1}, nil
}

// parseSelector parses a whole selector, which must be a condition.
func (p *parser) parseSelector() (expr, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	o, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		if p.tok.kind == tRParen {
			return nil, p.errAt(p.tok.pos, "unbalanced ')'")
		}
		return nil, p.errAt(p.tok.pos, "unexpected %s after a complete expression", p.tok.describe(p.lx.src))
	}
	if err := p.wantCond(o); err != nil {
		return nil, err
	}
	return o.e, nil
}

// wantCond checks that o can be a condition: a boolean expression or a
// property, whose text is then read as TRUE or FALSE.
func (p *parser) wantCond(o operand) error {
	if o.k != kBool && o.k != kText {
		return p.errAt(o.pos, "expected a condition, found %s", describeKind(o.k))
	}
	return nil
}

// wantNum checks that o can take part in arithmetic: a number or a property,
// whose text is then read as a number.
func (p *parser) wantNum(o operand) error {
	if o.k != kNum && o.k != kText {
		return p.errAt(o.pos, "expected a number, found %s", describeKind(o.k))
	}
	return nil
}

// wantString checks that o is a string or a property, for IN and LIKE.
func (p *parser) wantString(o operand, op string) error {
	if o.k != kStr && o.k != kText {
		return p.errAt(o.pos, "%s needs a string on its left, found %s", op, describeKind(o.k))
	}
	return nil
}

// parseOr and parseAnd flatten chains into one n-ary node, so that a long
// list of alternatives is neither deep to evaluate nor limited by MaxDepth.
func (p *parser) parseOr() (operand, error) {
	first, err := p.parseAnd()
	if err != nil || p.tok.kind != tOr {
		return first, err
	}
	return p.parseChain(first, tOr, p.parseAnd)
}

func (p *parser) parseAnd() (operand, error) {
	first, err := p.parseNot()
	if err != nil || p.tok.kind != tAnd {
		return first, err
	}
	return p.parseChain(first, tAnd, p.parseNot)
}

// parseChain collects first and the operands joined to it by op.
func (p *parser) parseChain(first operand, op tokKind, sub func() (operand, error)) (operand, error) {
	var terms []expr
	h := 0
	add := func(o operand) error {
		if err := p.wantCond(o); err != nil {
			return err
		}
		// A parenthesized chain of the same operator joins this one: AND and
		// OR are associative in three-valued logic too.
		switch e := o.e.(type) {
		case *andNode:
			if op == tAnd {
				terms = append(terms, e.terms...)
				h = max(h, o.h-1)
				return nil
			}
		case *orNode:
			if op == tOr {
				terms = append(terms, e.terms...)
				h = max(h, o.h-1)
				return nil
			}
		}
		terms = append(terms, o.e)
		h = max(h, o.h)
		return nil
	}
	if err := add(first); err != nil {
		return operand{}, err
	}
	for p.tok.kind == op {
		if err := p.advance(); err != nil {
			return operand{}, err
		}
		o, err := sub()
		if err != nil {
			return operand{}, err
		}
		if err := add(o); err != nil {
			return operand{}, err
		}
	}
	var e expr = &orNode{terms: terms}
	if op == tAnd {
		e = &andNode{terms: terms}
	}
	return p.build(e, kBool, first.pos, operand{h: h})
}

// parseNot parses a chain of NOTs and the comparison they apply to.
func (p *parser) parseNot() (operand, error) {
	if p.tok.kind != tNot {
		return p.parseComparison()
	}
	pos := p.tok.pos
	if err := p.advance(); err != nil {
		return operand{}, err
	}
	if err := p.enter(pos); err != nil {
		return operand{}, err
	}
	defer p.leave()
	o, err := p.parseNot()
	if err != nil {
		return operand{}, err
	}
	if err := p.wantCond(o); err != nil {
		return operand{}, err
	}
	return p.build(&notNode{x: o.e}, kBool, pos, o)
}

// comparisonOps maps comparison tokens to their operators.
var comparisonOps = [...]struct {
	tok tokKind
	op  cmpOp
}{
	{tEq, opEq}, {tNe, opNe}, {tLt, opLt}, {tLe, opLe}, {tGt, opGt}, {tGe, opGe},
}

// parseComparison parses an arithmetic expression and at most one
// comparison, BETWEEN, IN, LIKE or IS NULL applied to it. Comparisons do not
// chain: a = b = c needs parentheses, as in SQL.
func (p *parser) parseComparison() (operand, error) {
	x, err := p.parseAdditive()
	if err != nil {
		return operand{}, err
	}
	for _, c := range comparisonOps {
		if p.tok.kind == c.tok {
			return p.parseCompareRest(x, c.op)
		}
	}
	switch p.tok.kind {
	case tIs:
		return p.parseIsNull(x)
	case tBetween, tIn, tLike:
		return p.parsePredicate(x, false)
	case tNot:
		if err := p.advance(); err != nil {
			return operand{}, err
		}
		switch p.tok.kind {
		case tBetween, tIn, tLike:
			return p.parsePredicate(x, true)
		}
		return operand{}, p.errAt(p.tok.pos, "expected BETWEEN, IN or LIKE after NOT, found %s", p.tok.describe(p.lx.src))
	}
	return x, nil
}

// parseCompareRest parses the right side of a comparison operator.
func (p *parser) parseCompareRest(x operand, op cmpOp) (operand, error) {
	if err := p.advance(); err != nil {
		return operand{}, err
	}
	y, err := p.parseAdditive()
	if err != nil {
		return operand{}, err
	}
	if op != opEq && op != opNe {
		// The specification restricts strings and booleans to = and <>.
		for _, o := range [2]operand{x, y} {
			switch o.k {
			case kStr:
				return operand{}, p.errAt(o.pos, "strings can only be compared with = and <>")
			case kBool:
				return operand{}, p.errAt(o.pos, "conditions can only be compared with = and <>")
			}
		}
	}
	return p.build(&cmpNode{op: op, l: x.e, r: y.e}, kBool, x.pos, x, y)
}

// parseIsNull parses IS [NOT] NULL after x.
func (p *parser) parseIsNull(x operand) (operand, error) {
	if err := p.advance(); err != nil {
		return operand{}, err
	}
	not := false
	if p.tok.kind == tNot {
		not = true
		if err := p.advance(); err != nil {
			return operand{}, err
		}
	}
	if err := p.expect(tNull, "NULL after IS"); err != nil {
		return operand{}, err
	}
	return p.build(&isNullNode{x: x.e, not: not}, kBool, x.pos, x)
}

// parsePredicate parses [NOT] BETWEEN, IN or LIKE after x; the current token
// is the keyword.
func (p *parser) parsePredicate(x operand, not bool) (operand, error) {
	kw := p.tok
	if err := p.advance(); err != nil {
		return operand{}, err
	}
	switch kw.kind {
	case tBetween:
		if err := p.wantNum(x); err != nil {
			return operand{}, err
		}
		lo, err := p.parseAdditive()
		if err != nil {
			return operand{}, err
		}
		if err := p.expect(tAnd, "AND in BETWEEN"); err != nil {
			return operand{}, err
		}
		hi, err := p.parseAdditive()
		if err != nil {
			return operand{}, err
		}
		for _, o := range [2]operand{lo, hi} {
			if err := p.wantNum(o); err != nil {
				return operand{}, err
			}
		}
		return p.build(&betweenNode{x: x.e, lo: lo.e, hi: hi.e, not: not}, kBool, x.pos, x, lo, hi)
	case tIn:
		if err := p.wantString(x, "IN"); err != nil {
			return operand{}, err
		}
		items, err := p.parseInList()
		if err != nil {
			return operand{}, err
		}
		return p.build(newInNode(x.e, items, not), kBool, x.pos, x)
	default:
		if err := p.wantString(x, "LIKE"); err != nil {
			return operand{}, err
		}
		return p.parseLikeRest(x, not)
	}
}

// parseInList parses the parenthesized list of string literals after IN.
func (p *parser) parseInList() ([]string, error) {
	if err := p.expect(tLParen, "'(' after IN"); err != nil {
		return nil, err
	}
	var items []string
	for {
		if p.tok.kind != tString {
			return nil, p.errAt(p.tok.pos, "expected a string literal in the IN list, found %s", p.tok.describe(p.lx.src))
		}
		items = append(items, p.tok.text)
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tRParen {
			return items, p.advance()
		}
		if err := p.expect(tComma, "',' or ')' in the IN list"); err != nil {
			return nil, err
		}
	}
}

// parseLikeRest parses the pattern and optional ESCAPE after LIKE.
func (p *parser) parseLikeRest(x operand, not bool) (operand, error) {
	if p.tok.kind != tString {
		return operand{}, p.errAt(p.tok.pos, "expected a string literal pattern after LIKE, found %s", p.tok.describe(p.lx.src))
	}
	pat := p.tok
	if err := p.advance(); err != nil {
		return operand{}, err
	}
	esc := rune(-1)
	if p.tok.kind == tEscape {
		if err := p.advance(); err != nil {
			return operand{}, err
		}
		if p.tok.kind != tString {
			return operand{}, p.errAt(p.tok.pos, "expected a string literal after ESCAPE, found %s", p.tok.describe(p.lx.src))
		}
		if utf8.RuneCountInString(p.tok.text) != 1 {
			return operand{}, p.errAt(p.tok.pos, "the ESCAPE string must be exactly one character")
		}
		esc, _ = utf8.DecodeRuneInString(p.tok.text)
		if err := p.advance(); err != nil {
			return operand{}, err
		}
	}
	lp, ok := compileLike(pat.text, esc)
	if !ok {
		return operand{}, p.errAt(pat.pos, "the LIKE pattern ends with its escape character")
	}
	return p.build(&likeNode{x: x.e, pat: lp, not: not}, kBool, x.pos, x)
}

// parseAdditive and parseMultiplicative are left-associative, as in Java.
func (p *parser) parseAdditive() (operand, error) {
	return p.parseArith(p.parseMultiplicative, tPlus, tMinus)
}

func (p *parser) parseMultiplicative() (operand, error) {
	return p.parseArith(p.parseUnary, tStar, tSlash)
}

// parseArith parses sub {(op1|op2) sub}.
func (p *parser) parseArith(sub func() (operand, error), op1, op2 tokKind) (operand, error) {
	x, err := sub()
	if err != nil {
		return operand{}, err
	}
	for p.tok.kind == op1 || p.tok.kind == op2 {
		op, opPos := p.tok.text[0], p.tok.pos
		if err := p.wantNum(x); err != nil {
			return operand{}, err
		}
		if err := p.advance(); err != nil {
			return operand{}, err
		}
		y, err := sub()
		if err != nil {
			return operand{}, err
		}
		if err := p.wantNum(y); err != nil {
			return operand{}, err
		}
		if max(x.h, y.h) >= MaxDepth {
			// Report the operator that makes the chain too long.
			return operand{}, p.errAt(opPos, "selector nests too deeply")
		}
		if x, err = p.build(&arithNode{op: op, l: x.e, r: y.e}, kNum, x.pos, x, y); err != nil {
			return operand{}, err
		}
	}
	return x, nil
}

// parseUnary parses a signed operand. A sign directly before a numeric
// literal is folded into it, so -9223372036854775808 is a valid long, as in
// Java, and String prints negative literals back the same way.
func (p *parser) parseUnary() (operand, error) {
	if p.tok.kind != tPlus && p.tok.kind != tMinus {
		return p.parsePrimary()
	}
	sign := p.tok
	if err := p.advance(); err != nil {
		return operand{}, err
	}
	if sign.kind == tMinus && p.tok.kind == tInt && p.tok.dec && p.tok.u == 1<<63 {
		lit := operand{e: &litNode{v: longVal(math.MinInt64)}, k: kNum, pos: sign.pos, h: 1}
		return lit, p.advance()
	}
	if err := p.enter(sign.pos); err != nil {
		return operand{}, err
	}
	defer p.leave()
	x, err := p.parseUnary()
	if err != nil {
		return operand{}, err
	}
	if err := p.wantNum(x); err != nil {
		return operand{}, err
	}
	if lit, ok := x.e.(*litNode); ok {
		// Fold the sign into the literal; a literal that is kNum is numeric.
		if sign.kind == tMinus {
			lit = &litNode{v: negate(lit.v)}
		}
		return operand{e: lit, k: kNum, pos: sign.pos, h: 1}, nil
	}
	if sign.kind == tPlus {
		if x.k == kNum {
			return operand{e: x.e, k: kNum, pos: sign.pos, h: x.h}, nil
		}
		// +prop still turns the property's text into a number.
		return p.build(&posNode{x: x.e}, kNum, sign.pos, x)
	}
	return p.build(&negNode{x: x.e}, kNum, sign.pos, x)
}

// parsePrimary parses a literal, an identifier or a parenthesized
// expression.
func (p *parser) parsePrimary() (operand, error) {
	t := p.tok
	leaf := func(e expr, k kind) (operand, error) {
		return operand{e: e, k: k, pos: t.pos, h: 1}, p.advance()
	}
	switch t.kind {
	case tLParen:
		if err := p.enter(t.pos); err != nil {
			return operand{}, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return operand{}, err
		}
		o, err := p.parseOr()
		if err != nil {
			return operand{}, err
		}
		if p.tok.kind != tRParen {
			return operand{}, p.errAt(p.tok.pos, "expected ')' to close the '(' at position %d, found %s", t.pos, p.tok.describe(p.lx.src))
		}
		// Type errors about a parenthesized operand point at its '('.
		o.pos = t.pos
		return o, p.advance()
	case tString:
		return leaf(&litNode{v: stringVal(t.text)}, kStr)
	case tInt:
		if t.dec && t.u == 1<<63 {
			return operand{}, p.errAt(t.pos, "number %s is out of range", t.text)
		}
		// Hexadecimal and octal literals use all 64 bits, as in Java.
		return leaf(&litNode{v: longVal(int64(t.u))}, kNum)
	case tFloat:
		return leaf(&litNode{v: doubleVal(t.f)}, kNum)
	case tTrue, tFalse:
		return leaf(&litNode{v: boolVal(t.kind == tTrue)}, kBool)
	case tIdent:
		if h, ok := lookupHeader(t.text); ok {
			k := kStr
			if h.numeric() {
				k = kNum
			}
			return leaf(&headerNode{h: h, name: t.text}, k)
		}
		return leaf(&propNode{name: t.text}, kText)
	case tNull:
		return operand{}, p.errAt(t.pos, "NULL may only follow IS or IS NOT")
	case tEOF:
		if p.prev.end == 0 && p.prev.kind == tEOF {
			return operand{}, p.errAt(t.pos, "expected a value")
		}
		return operand{}, p.errAt(t.pos, "expected a value after %s", p.prev.describe(p.lx.src))
	}
	if p.prev.end == 0 && p.prev.kind == tEOF {
		return operand{}, p.errAt(t.pos, "expected a value, found %s", t.describe(p.lx.src))
	}
	return operand{}, p.errAt(t.pos, "expected a value after %s, found %s", p.prev.describe(p.lx.src), t.describe(p.lx.src))
}
