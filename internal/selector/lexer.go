package selector

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

// Token kinds. Keywords get kinds of their own because the grammar treats
// each one differently; identifiers never spell a keyword.
const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tFloat
	tAnd
	tOr
	tNot
	tBetween
	tIn
	tLike
	tEscape
	tIs
	tNull
	tTrue
	tFalse
	tEq
	tNe
	tLt
	tLe
	tGt
	tGe
	tPlus
	tMinus
	tStar
	tSlash
	tLParen
	tRParen
	tComma
)

// keywords lists the reserved words; they match in any letter case.
var keywords = [...]struct {
	word string
	kind tokKind
}{
	{"AND", tAnd}, {"OR", tOr}, {"NOT", tNot}, {"BETWEEN", tBetween},
	{"IN", tIn}, {"LIKE", tLike}, {"ESCAPE", tEscape}, {"IS", tIs},
	{"NULL", tNull}, {"TRUE", tTrue}, {"FALSE", tFalse},
}

// token is one lexical token. For a string literal text is the value with
// quote escapes resolved; for an identifier it is the name; otherwise it is
// the source text.
type token struct {
	kind tokKind
	pos  int
	end  int
	text string
	// u is an exact numeric literal's magnitude. Decimal literals may reach
	// 2^63 only when negated, which the parser decides, so the lexer keeps
	// the magnitude unsigned and notes whether it was decimal.
	u   uint64
	dec bool
	// f is an approximate numeric literal's value.
	f float64
}

// describe names the token for error messages.
func (t token) describe(src string) string {
	if t.kind == tEOF {
		return "the end of the selector"
	}
	s := src[t.pos:t.end]
	if len(s) > 24 {
		s = s[:20]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	if t.kind == tString {
		return s
	}
	return "'" + s + "'"
}

// lexer splits a selector into tokens on demand.
type lexer struct {
	src string
	pos int
}

// errAt builds a SyntaxError for the lexer's source.
func (l *lexer) errAt(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Selector: l.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// isSpace reports the whitespace the JMS specification allows: space, tab,
// form feed and line terminators.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r'
}

// isIdentStart follows Java's Character.isJavaIdentifierStart: letters,
// letter numbers, currency symbols (so '$') and connecting punctuation (so
// '_').
func isIdentStart(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || r == '$' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
	}
	return unicode.IsLetter(r) || unicode.In(r, unicode.Nl, unicode.Sc, unicode.Pc)
}

// isIdentPart follows Character.isJavaIdentifierPart, which adds digits,
// combining marks and format characters to the start set. Java also admits
// some ASCII control characters; those are left out, as no sane property
// name holds them and they would make selectors unreadable.
func isIdentPart(r rune) bool {
	if r < utf8.RuneSelf {
		return isIdentStart(r) || ('0' <= r && r <= '9')
	}
	return isIdentStart(r) || unicode.In(r, unicode.Nd, unicode.Mn, unicode.Mc, unicode.Cf)
}

// next returns the next token.
func (l *lexer) next() (token, *SyntaxError) {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
	start := l.pos
	if start == len(l.src) {
		return token{kind: tEOF, pos: start, end: start}, nil
	}
	c := l.src[start]
	op := func(k tokKind, n int) (token, *SyntaxError) {
		l.pos += n
		return token{kind: k, pos: start, end: l.pos, text: l.src[start:l.pos]}, nil
	}
	switch {
	case c == '\'':
		return l.lexString()
	case '0' <= c && c <= '9', c == '.' && start+1 < len(l.src) && isDigit(l.src[start+1]):
		return l.lexNumber()
	case c == '=':
		return op(tEq, 1)
	case c == '<':
		if strings.HasPrefix(l.src[start:], "<>") {
			return op(tNe, 2)
		}
		if strings.HasPrefix(l.src[start:], "<=") {
			return op(tLe, 2)
		}
		return op(tLt, 1)
	case c == '>':
		if strings.HasPrefix(l.src[start:], ">=") {
			return op(tGe, 2)
		}
		return op(tGt, 1)
	case c == '+':
		return op(tPlus, 1)
	case c == '-':
		return op(tMinus, 1)
	case c == '*':
		return op(tStar, 1)
	case c == '/':
		return op(tSlash, 1)
	case c == '(':
		return op(tLParen, 1)
	case c == ')':
		return op(tRParen, 1)
	case c == ',':
		return op(tComma, 1)
	}
	r, size := utf8.DecodeRuneInString(l.src[start:])
	if !isIdentStart(r) {
		if strings.HasPrefix(l.src[start:], "!=") {
			return token{}, l.errAt(start, "unexpected '!=' (the selector syntax writes 'not equal' as <>)")
		}
		if c == '"' {
			return token{}, l.errAt(start, "unexpected '\"' (string literals take single quotes)")
		}
		return token{}, l.errAt(start, "unexpected character %q", r)
	}
	l.pos += size
	for l.pos < len(l.src) {
		r, size = utf8.DecodeRuneInString(l.src[l.pos:])
		if !isIdentPart(r) {
			break
		}
		l.pos += size
	}
	word := l.src[start:l.pos]
	for _, kw := range keywords {
		if strings.EqualFold(word, kw.word) {
			return token{kind: kw.kind, pos: start, end: l.pos, text: word}, nil
		}
	}
	return token{kind: tIdent, pos: start, end: l.pos, text: word}, nil
}

// lexString reads a single-quoted string literal, in which a doubled quote
// stands for one.
func (l *lexer) lexString() (token, *SyntaxError) {
	start := l.pos
	i := start + 1
	escaped := false
	for {
		j := strings.IndexByte(l.src[i:], '\'')
		if j < 0 {
			return token{}, l.errAt(start, "unterminated string literal")
		}
		i += j + 1
		if i < len(l.src) && l.src[i] == '\'' {
			escaped = true
			i++
			continue
		}
		break
	}
	l.pos = i
	text := l.src[start+1 : i-1]
	if escaped {
		text = strings.ReplaceAll(text, "''", "'")
	}
	return token{kind: tString, pos: start, end: i, text: text}, nil
}

// isDigit and isHexDigit classify ASCII digits.
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// lexNumber reads a numeric literal in Java's syntax: decimal, hexadecimal
// (0x) or octal (leading 0) exact numerics with an optional L suffix, and
// approximate numerics with a decimal point or an exponent or a d/f suffix.
func (l *lexer) lexNumber() (token, *SyntaxError) {
	s := l.src
	start := l.pos
	i := start
	digits := func() int {
		n := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			n++
		}
		return n
	}
	// finish checks that no identifier character is glued to the number, so
	// that "12abc" is one bad token rather than a number and a name.
	finish := func(t token) (token, *SyntaxError) {
		if i < len(s) {
			if r, _ := utf8.DecodeRuneInString(s[i:]); isIdentPart(r) || r == '.' {
				return token{}, l.errAt(start, "malformed number %q", s[start:i+utf8.RuneLen(r)])
			}
		}
		t.pos, t.end, t.text = start, i, s[start:i]
		l.pos = i
		return t, nil
	}

	if s[i] == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') {
		i += 2
		h := i
		for i < len(s) && isHexDigit(s[i]) {
			i++
		}
		if i == h {
			return token{}, l.errAt(start, "malformed hexadecimal number")
		}
		// Java accepts up to 64 bits and reads them as two's complement.
		u, err := strconv.ParseUint(s[h:i], 16, 64)
		if err != nil {
			return token{}, l.errAt(start, "number %s is out of range", s[start:i])
		}
		if i < len(s) && (s[i] == 'l' || s[i] == 'L') {
			i++
		}
		return finish(token{kind: tInt, u: u})
	}

	intDigits := digits()
	isFloat := false
	if i < len(s) && s[i] == '.' {
		isFloat = true
		i++
		digits()
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isFloat = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return token{}, l.errAt(start, "malformed exponent in number")
		}
	}
	mantissaEnd := i
	if i < len(s) {
		switch s[i] {
		case 'd', 'D', 'f', 'F':
			isFloat = true
			i++
		case 'l', 'L':
			if isFloat {
				return token{}, l.errAt(start, "malformed number %q", s[start:i+1])
			}
			i++
		}
	}
	if isFloat {
		f, err := strconv.ParseFloat(s[start:mantissaEnd], 64)
		if err != nil && (math.IsInf(f, 0) || !errors.Is(err, strconv.ErrRange)) {
			return token{}, l.errAt(start, "number %s is out of range", s[start:mantissaEnd])
		}
		return finish(token{kind: tFloat, f: f})
	}
	lit := s[start:mantissaEnd]
	if intDigits > 1 && lit[0] == '0' {
		// Java reads a leading zero as octal.
		u, err := strconv.ParseUint(lit[1:], 8, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return token{}, l.errAt(start, "number %s is out of range", lit)
			}
			return token{}, l.errAt(start, "malformed octal number %s", lit)
		}
		return finish(token{kind: tInt, u: u})
	}
	u, err := strconv.ParseUint(lit, 10, 64)
	if err != nil || u > 1<<63 {
		return token{}, l.errAt(start, "number %s is out of range", lit)
	}
	return finish(token{kind: tInt, u: u, dec: true})
}
