package selector

import (
	"strconv"
	"strings"

	"tandem/internal/message"
)

// expr is a node of a compiled selector.
type expr interface {
	// eval computes the node's value for a message. Conditions return a
	// vBool, or vNull for unknown.
	eval(m *message.Message, deliveryCount uint32) value
	// write appends the node's canonical text.
	write(b *strings.Builder)
	// prec is the node's precedence level for printing; see the prec
	// constants.
	prec() int
}

// Precedence levels, loosest first. String adds parentheses only where a
// child binds more loosely than its position allows, so the printed text
// parses back to the same tree without nesting any deeper.
const (
	precOr = iota + 1
	precAnd
	precNot
	precCompare
	precAdd
	precMul
	precUnary
	precPrimary
)

// writeAt writes e, in parentheses if it binds more loosely than min.
func writeAt(b *strings.Builder, e expr, min int) {
	if e.prec() < min {
		b.WriteByte('(')
		e.write(b)
		b.WriteByte(')')
		return
	}
	e.write(b)
}

// writeString writes s as a string literal.
func writeString(b *strings.Builder, s string) {
	b.WriteByte('\'')
	b.WriteString(strings.ReplaceAll(s, "'", "''"))
	b.WriteByte('\'')
}

// litNode is a literal.
type litNode struct{ v value }

func (n *litNode) eval(*message.Message, uint32) value { return n.v }
func (n *litNode) prec() int                           { return precPrimary }

func (n *litNode) write(b *strings.Builder) {
	switch n.v.k {
	case vBool:
		if n.v.bool() {
			b.WriteString("TRUE")
		} else {
			b.WriteString("FALSE")
		}
	case vLong:
		b.WriteString(strconv.FormatInt(n.v.i, 10))
	case vDouble:
		s := strconv.FormatFloat(n.v.double(), 'g', -1, 64)
		b.WriteString(s)
		// Keep it approximate when it reads back: "1" would be a long.
		if !strings.ContainsAny(s, ".eE") {
			b.WriteString(".0")
		}
	default:
		writeString(b, n.v.s)
	}
}

// propNode is a user property reference.
type propNode struct{ name string }

func (n *propNode) eval(m *message.Message, _ uint32) value {
	p, ok := m.TypedProperty(n.name)
	if !ok {
		return value{}
	}
	return propValue(p)
}

// propValue is a property's value as a selector sees it. Typed numbers and
// booleans are what they are, so comparisons follow JMS's numeric rules;
// string properties stay text whose type depends on the operand it meets
// (doc.go), which keeps STOMP's headers working as they always have.
func propValue(p message.Property) value {
	switch {
	case p.Kind == message.KindString:
		return textVal(p.Value)
	case p.Kind.Numeric():
		if v, ok := parseNumber(p.Value); ok {
			return v
		}
		return value{}
	case p.Kind == message.KindBool:
		return boolVal(p.Value == "true")
	case p.Kind == message.KindChar, p.Kind == message.KindSymbol, p.Kind == message.KindUUID:
		return stringVal(p.Value)
	}
	// Null, and binary, which JMS selectors cannot compare.
	return value{}
}
func (n *propNode) write(b *strings.Builder) { b.WriteString(n.name) }
func (n *propNode) prec() int                { return precPrimary }

// headerNode is a header reference. name is the identifier as written, so
// that String keeps an Artemis alias rather than its JMS twin.
type headerNode struct {
	h    header
	name string
}

func (n *headerNode) eval(m *message.Message, dc uint32) value { return n.h.value(m, dc) }
func (n *headerNode) prec() int                                { return precPrimary }
func (n *headerNode) write(b *strings.Builder)                 { b.WriteString(n.name) }

// negNode is unary minus on a non-literal.
type negNode struct{ x expr }

func (n *negNode) eval(m *message.Message, dc uint32) value {
	v, ok := toNumber(n.x.eval(m, dc))
	if !ok {
		return value{}
	}
	return negate(v)
}
func (n *negNode) prec() int { return precUnary }
func (n *negNode) write(b *strings.Builder) {
	b.WriteByte('-')
	writeAt(b, n.x, precUnary)
}

// posNode is unary plus on a property: it makes the property's text a
// number, which matters when the result meets a string.
type posNode struct{ x expr }

func (n *posNode) eval(m *message.Message, dc uint32) value {
	v, ok := toNumber(n.x.eval(m, dc))
	if !ok {
		return value{}
	}
	return v
}
func (n *posNode) prec() int { return precUnary }
func (n *posNode) write(b *strings.Builder) {
	b.WriteByte('+')
	writeAt(b, n.x, precUnary)
}

// arithNode is a binary arithmetic operation.
type arithNode struct {
	op   byte
	l, r expr
}

func (n *arithNode) eval(m *message.Message, dc uint32) value {
	return arith(n.op, n.l.eval(m, dc), n.r.eval(m, dc))
}

func (n *arithNode) prec() int {
	if n.op == '+' || n.op == '-' {
		return precAdd
	}
	return precMul
}

func (n *arithNode) write(b *strings.Builder) {
	p := n.prec()
	writeAt(b, n.l, p)
	b.WriteByte(' ')
	b.WriteByte(n.op)
	b.WriteByte(' ')
	// Left-associative: a right operand at the same level needs
	// parentheses, since a - (b - c) is not a - b - c.
	writeAt(b, n.r, p+1)
}

// cmpNode is a comparison.
type cmpNode struct {
	op   cmpOp
	l, r expr
}

func (n *cmpNode) eval(m *message.Message, dc uint32) value {
	return compare(n.op, n.l.eval(m, dc), n.r.eval(m, dc))
}
func (n *cmpNode) prec() int { return precCompare }
func (n *cmpNode) write(b *strings.Builder) {
	writeAt(b, n.l, precAdd)
	b.WriteByte(' ')
	b.WriteString(cmpOpText[n.op])
	b.WriteByte(' ')
	writeAt(b, n.r, precAdd)
}

// andNode is a chain of ANDs. FALSE wins over unknown, which wins over
// TRUE; evaluation stops at the first FALSE.
type andNode struct{ terms []expr }

func (n *andNode) eval(m *message.Message, dc uint32) value {
	unknown := false
	for _, t := range n.terms {
		b, known := truth(t.eval(m, dc))
		if !known {
			unknown = true
		} else if !b {
			return boolVal(false)
		}
	}
	if unknown {
		return value{}
	}
	return boolVal(true)
}
func (n *andNode) prec() int { return precAnd }
func (n *andNode) write(b *strings.Builder) {
	for i, t := range n.terms {
		if i > 0 {
			b.WriteString(" AND ")
		}
		writeAt(b, t, precNot)
	}
}

// orNode is a chain of ORs. TRUE wins over unknown, which wins over FALSE;
// evaluation stops at the first TRUE.
type orNode struct{ terms []expr }

func (n *orNode) eval(m *message.Message, dc uint32) value {
	unknown := false
	for _, t := range n.terms {
		b, known := truth(t.eval(m, dc))
		if !known {
			unknown = true
		} else if b {
			return boolVal(true)
		}
	}
	if unknown {
		return value{}
	}
	return boolVal(false)
}
func (n *orNode) prec() int { return precOr }
func (n *orNode) write(b *strings.Builder) {
	for i, t := range n.terms {
		if i > 0 {
			b.WriteString(" OR ")
		}
		writeAt(b, t, precAnd)
	}
}

// notNode is NOT; unknown stays unknown.
type notNode struct{ x expr }

func (n *notNode) eval(m *message.Message, dc uint32) value {
	b, known := truth(n.x.eval(m, dc))
	if !known {
		return value{}
	}
	return boolVal(!b)
}
func (n *notNode) prec() int { return precNot }
func (n *notNode) write(b *strings.Builder) {
	b.WriteString("NOT ")
	writeAt(b, n.x, precNot)
}

// betweenNode is x [NOT] BETWEEN lo AND hi, which the specification
// defines as x >= lo AND x <= hi (NOT: x < lo OR x > hi). The three-valued
// AND is applied literally, so a NULL x is unknown, and a NULL bound is
// unknown unless the other bound already decides the answer.
type betweenNode struct {
	x, lo, hi expr
	not       bool
}

func (n *betweenNode) eval(m *message.Message, dc uint32) value {
	x := n.x.eval(m, dc)
	if x.k == vNull {
		return value{}
	}
	ge, geKnown := truth(compare(opGe, x, n.lo.eval(m, dc)))
	if geKnown && !ge {
		return boolVal(n.not)
	}
	le, leKnown := truth(compare(opLe, x, n.hi.eval(m, dc)))
	if leKnown && !le {
		return boolVal(n.not)
	}
	if !geKnown || !leKnown {
		return value{}
	}
	return boolVal(!n.not)
}
func (n *betweenNode) prec() int { return precCompare }
func (n *betweenNode) write(b *strings.Builder) {
	writeAt(b, n.x, precAdd)
	if n.not {
		b.WriteString(" NOT")
	}
	b.WriteString(" BETWEEN ")
	writeAt(b, n.lo, precAdd)
	b.WriteString(" AND ")
	writeAt(b, n.hi, precAdd)
}

// inSetMin is the list length from which IN looks values up in a map
// rather than scanning the list.
const inSetMin = 8

// inNode is x [NOT] IN ('a', 'b', ...). A NULL x is unknown.
type inNode struct {
	x     expr
	items []string
	set   map[string]struct{}
	not   bool
}

// newInNode builds an inNode, with a set for long lists.
func newInNode(x expr, items []string, not bool) *inNode {
	n := &inNode{x: x, items: items, not: not}
	if len(items) >= inSetMin {
		n.set = make(map[string]struct{}, len(items))
		for _, s := range items {
			n.set[s] = struct{}{}
		}
	}
	return n
}

func (n *inNode) eval(m *message.Message, dc uint32) value {
	x := n.x.eval(m, dc)
	if x.k != vString && x.k != vText {
		return value{}
	}
	found := false
	if n.set != nil {
		_, found = n.set[x.s]
	} else {
		for _, s := range n.items {
			if s == x.s {
				found = true
				break
			}
		}
	}
	return boolVal(found != n.not)
}
func (n *inNode) prec() int { return precCompare }
func (n *inNode) write(b *strings.Builder) {
	writeAt(b, n.x, precAdd)
	if n.not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, s := range n.items {
		if i > 0 {
			b.WriteString(", ")
		}
		writeString(b, s)
	}
	b.WriteByte(')')
}

// isNullNode is x IS [NOT] NULL, which is never unknown.
type isNullNode struct {
	x   expr
	not bool
}

func (n *isNullNode) eval(m *message.Message, dc uint32) value {
	return boolVal((n.x.eval(m, dc).k == vNull) != n.not)
}
func (n *isNullNode) prec() int { return precCompare }
func (n *isNullNode) write(b *strings.Builder) {
	writeAt(b, n.x, precAdd)
	if n.not {
		b.WriteString(" IS NOT NULL")
	} else {
		b.WriteString(" IS NULL")
	}
}
