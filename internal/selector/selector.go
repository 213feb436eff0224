package selector

import (
	"errors"
	"fmt"
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
// number of this delivery attempt: 1 for the first delivery. m must not be
// nil; a nil Selector matches every message. Match never fails and, unless
// the selector reads JMSMessageID, never allocates.
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

// ErrSyntax is the sentinel every Compile error wraps, so callers that only
// need to tell a bad selector from other failures can use errors.Is.
var ErrSyntax = errors.New("selector: syntax error")

// SyntaxError reports why a selector was rejected and where.
type SyntaxError struct {
	// Selector is the text that was compiled.
	Selector string
	// Pos is the 0-based byte offset of the offending token, or the length
	// of the selector when the text ended too early.
	Pos int
	// Msg describes the problem without the position.
	Msg string
}

// Error returns a one-line description: the position, the message and an
// excerpt of the selector around the position. It stays on one line because
// it travels in protocol error headers, which cannot hold line breaks.
func (e *SyntaxError) Error() string {
	ex, _ := e.excerpt()
	return fmt.Sprintf("selector: at position %d: %s in %q", e.Pos, e.Msg, ex)
}

// Unwrap returns ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Caret returns the excerpt of Error on one line and, below it, a caret
// under the offending position, for tools that show errors to people on a
// terminal.
func (e *SyntaxError) Caret() string {
	ex, col := e.excerpt()
	// Control characters would break the alignment of the caret.
	ex = strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, ex)
	return ex + "\n" + strings.Repeat(" ", col) + "^"
}

// excerptRadius is how many bytes of context an excerpt keeps on each side of
// the error position when the selector is too long to quote whole.
const excerptRadius = 32

// excerpt returns the part of the selector to quote and the column, in
// runes, of the error position within it. Long selectors are cut to a window
// around the position so that an error about a 64 KiB selector stays short.
func (e *SyntaxError) excerpt() (string, int) {
	s := e.Selector
	pos := min(max(e.Pos, 0), len(s))
	start, end := 0, len(s)
	if len(s) > 2*excerptRadius {
		start = max(pos-excerptRadius, 0)
		end = min(pos+excerptRadius, len(s))
		// Cut on rune boundaries so the excerpt stays valid UTF-8.
		for start > 0 && !utf8.RuneStart(s[start]) {
			start--
		}
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
	}
	prefix, suffix := "", ""
	if start > 0 {
		prefix = "..."
	}
	if end < len(s) {
		suffix = "..."
	}
	col := len(prefix) + utf8.RuneCountInString(s[start:pos])
	return prefix + s[start:end] + suffix, col
}

// header names a message header that selectors can reference.
type header uint8

const (
	hPriority header = iota
	hTimestamp
	hExpiration
	hDeliveryCount
	hCorrelationID
	hType
	hMessageID
	hDeliveryMode
	hReplyTo
	hDurable
	hGroupID
	hGroupSeq
	hUserID
)

// headers maps identifiers to headers. The AMQ names are the aliases
// Artemis' core filters use.
var headers = [...]struct {
	name string
	h    header
}{
	{"JMSPriority", hPriority},
	{"JMSTimestamp", hTimestamp},
	{"JMSExpiration", hExpiration},
	{"JMSXDeliveryCount", hDeliveryCount},
	{"JMSCorrelationID", hCorrelationID},
	{"JMSType", hType},
	{"JMSMessageID", hMessageID},
	{"JMSDeliveryMode", hDeliveryMode},
	{"JMSReplyTo", hReplyTo},
	{"JMSXGroupID", hGroupID},
	{"JMSXGroupSeq", hGroupSeq},
	{"JMSXUserID", hUserID},
	{"AMQPriority", hPriority},
	{"AMQTimestamp", hTimestamp},
	{"AMQExpiration", hExpiration},
	{"AMQDurable", hDurable},
}

// lookupHeader resolves a header identifier; identifiers are case-sensitive.
func lookupHeader(name string) (header, bool) {
	for _, e := range headers {
		if e.name == name {
			return e.h, true
		}
	}
	return 0, false
}

// jmsxValue reads the JMSX headers that have fields of their own, falling
// back to a property of the same name, which is where a message built
// without an adapter (or by an adapter that left it there) keeps them.
func (h header) jmsxValue(m *message.Message) value {
	switch h {
	case hGroupID:
		if g := m.GroupID(); g != "" {
			return stringVal(g)
		}
		if p, ok := m.TypedProperty("JMSXGroupID"); ok {
			return propValue(p)
		}
	case hGroupSeq:
		if m.GroupSeq() != 0 || m.GroupID() != "" {
			return longVal(int64(m.GroupSeq()))
		}
		if p, ok := m.TypedProperty("JMSXGroupSeq"); ok {
			return propValue(p)
		}
	case hUserID:
		if u := m.UserID(); u != "" {
			return stringVal(u)
		}
		if p, ok := m.TypedProperty("JMSXUserID"); ok {
			return propValue(p)
		}
	}
	return value{}
}

// numeric reports whether the header's value is a number.
func (h header) numeric() bool { return h <= hDeliveryCount || h == hGroupSeq }

// value returns the header's value in m. Empty optional headers are NULL,
// since the message model stores an absent header as "".
func (h header) value(m *message.Message, deliveryCount uint32) value {
	optional := func(s string) value {
		if s == "" {
			return value{}
		}
		return stringVal(s)
	}
	switch h {
	case hPriority:
		return longVal(int64(m.Priority))
	case hTimestamp:
		return longVal(m.Timestamp)
	case hExpiration:
		return longVal(m.Expiration)
	case hDeliveryCount:
		return longVal(int64(deliveryCount))
	case hCorrelationID:
		return optional(m.CorrelationID())
	case hType:
		return optional(m.Type())
	case hReplyTo:
		return optional(m.ReplyTo())
	case hGroupID, hGroupSeq, hUserID:
		return h.jmsxValue(m)
	case hMessageID:
		if id := m.MessageID(); id != "" {
			// The id the client gave, as JMS clients compare it.
			return stringVal(id)
		}
		if m.ID == 0 {
			// Not yet assigned: the message has not been routed.
			return value{}
		}
		// The one header that allocates; selectors on it are rare.
		return stringVal(message.FormatID(m.ID))
	case hDeliveryMode:
		if m.Durable {
			return stringVal("PERSISTENT")
		}
		return stringVal("NON_PERSISTENT")
	}
	if m.Durable {
		return stringVal("DURABLE")
	}
	return stringVal("NON_DURABLE")
}
