package selector

import (
	"strings"
	"unicode/utf8"

	"tandem/internal/message"
)

// Limits on what Compile accepts. Selectors come from clients, so both the
// text and its nesting are bounded: the parser and the evaluator recurse
// once per nesting level.
const (
	// MaxLength is the longest selector, in bytes.
	MaxLength = 64 << 10
	// MaxDepth bounds nesting: parentheses, NOT and signs inside each
	// other, and the height of the expression tree (a chain such as
	// a + a + ... + a counts one level per operator; AND and OR chains
	// count one level in all).
	MaxDepth = 256
)

// Selector is a compiled message selector. It is immutable, so one Selector
// may be used by any number of goroutines at once.
type Selector struct {
	root expr // nil for the empty selector, which matches everything
	text string
}

// Compile parses a JMS message selector. An empty selector, or one of only
// whitespace, matches every message, as an absent selector does in JMS.
// Every error is a *SyntaxError, which wraps ErrSyntax.
func Compile(selector string) (*Selector, error) {
	if len(selector) > MaxLength {
		return nil, &SyntaxError{Selector: selector, Pos: MaxLength, Msg: "selector is longer than 65536 bytes"}
	}
	if !utf8.ValidString(selector) {
		pos := 0
		for pos < len(selector) {
			r, size := utf8.DecodeRuneInString(selector[pos:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			pos += size
		}
		return nil, &SyntaxError{Selector: selector, Pos: pos, Msg: "invalid UTF-8"}
	}
	if strings.TrimLeft(selector, " \t\f\r\n") == "" {
		return &Selector{}, nil
	}
	p := &parser{lx: lexer{src: selector}}
	root, err := p.parseSelector()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	root.write(&b)
	return &Selector{root: root, text: b.String()}, nil
}

// Match reports whether m satisfies the selector: only TRUE matches; FALSE
// and unknown (as when a property the selector needs is missing) do not.
// deliveryCount is the value of JMSXDeliveryCount, which JMS defines as the
// number of this delivery attempt: 1 for the first delivery. A nil Selector
// matches every message. Match never fails and, unless the selector reads
// JMSMessageID, never allocates.
func (s *Selector) Match(m *message.Message, deliveryCount uint32) bool {
	if s == nil || s.root == nil {
		return true
	}
	b, known := truth(s.root.eval(m, deliveryCount))
	return known && b
}

// String returns the selector in canonical form: keywords in upper case,
// single spaces around operators, literals normalized (0x10 prints as 16,
// 1e3 as 1000.0) and only the parentheses the precedence rules need. It
// compiles back to an equivalent selector, so it serves as a key for
// comparing subscriptions. The canonical form may be longer than the text
// compiled, and so, for selectors near MaxLength, too long to compile.
func (s *Selector) String() string {
	if s == nil {
		return ""
	}
	return s.text
}
