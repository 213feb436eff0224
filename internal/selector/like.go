package selector

import (
	"strings"
	"unicode/utf8"

	"tandem/internal/message"
)

// A LIKE pattern is compiled to a list of segments, the runs of the pattern
// between its '%' wildcards, and matched without backtracking:
//
//   - with no '%', the one segment must match the whole text;
//   - otherwise the first segment must match at the start, the last one at
//     the end, and each segment in between is placed at its leftmost match
//     after the previous one.
//
// Placing middle segments leftmost is always right: a segment has a fixed
// length in characters ('_' is one character), so the leftmost match also
// ends first and leaves the most room for the rest. Each segment is searched
// once, so a match costs at most O(len(text) × len(pattern)), however many
// '%' and '_' the pattern holds; a backtracking matcher would be exponential
// on patterns like '%a%a%a%a%b'.

// piece is one part of a segment: a literal run of text, or a run of n
// single-character '_' wildcards.
type piece struct {
	lit string
	n   int
}

// segment is the pieces between two '%' wildcards.
type segment []piece

// likePattern is a compiled LIKE pattern.
type likePattern struct {
	// src and esc are the pattern and escape character as written, for
	// String; esc is -1 without ESCAPE.
	src string
	esc rune
	// segs has one more element than the pattern has '%' wildcards.
	segs []segment
}

// compileLike compiles a pattern; ok is false if the pattern ends with a
// lone escape character. The escape character makes the character after it
// literal, whatever that is, as in ActiveMQ and Artemis.
func compileLike(src string, esc rune) (*likePattern, bool) {
	p := &likePattern{src: src, esc: esc}
	var cur segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			cur = append(cur, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRuneInString(src[i:])
		i += size
		switch {
		case r == esc:
			if i == len(src) {
				return nil, false
			}
			r, size = utf8.DecodeRuneInString(src[i:])
			i += size
			lit.WriteRune(r)
		case r == '%':
			flush()
			p.segs = append(p.segs, cur)
			cur = nil
		case r == '_':
			flush()
			if k := len(cur) - 1; k >= 0 && cur[k].lit == "" {
				cur[k].n++
			} else {
				cur = append(cur, piece{n: 1})
			}
		default:
			lit.WriteRune(r)
		}
	}
	flush()
	p.segs = append(p.segs, cur)
	return p, true
}

// match reports whether s matches the whole pattern.
func (p *likePattern) match(s string) bool {
	if len(p.segs) == 1 {
		end, ok := p.segs[0].matchAt(s, 0)
		return ok && end == len(s)
	}
	start, ok := p.segs[0].matchAt(s, 0)
	if !ok {
		return false
	}
	last := len(p.segs) - 1
	end, ok := p.segs[last].matchEnd(s)
	if !ok || end < start {
		return false
	}
	// The middle segments must fit between the first and the last.
	s = s[:end]
	for _, seg := range p.segs[1:last] {
		if start, ok = seg.find(s, start); !ok {
			return false
		}
	}
	return true
}

// matchAt matches seg at byte offset i of s and returns where the match
// ends.
func (seg segment) matchAt(s string, i int) (int, bool) {
	for _, pc := range seg {
		if pc.lit != "" {
			if !strings.HasPrefix(s[i:], pc.lit) {
				return 0, false
			}
			i += len(pc.lit)
			continue
		}
		for range pc.n {
			if i == len(s) {
				return 0, false
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
	}
	return i, true
}

// matchEnd matches seg against the end of s and returns where the match
// starts.
func (seg segment) matchEnd(s string) (int, bool) {
	j := len(s)
	for k := len(seg) - 1; k >= 0; k-- {
		pc := seg[k]
		if pc.lit != "" {
			if !strings.HasSuffix(s[:j], pc.lit) {
				return 0, false
			}
			j -= len(pc.lit)
			continue
		}
		for range pc.n {
			if j == 0 {
				return 0, false
			}
			_, size := utf8.DecodeLastRuneInString(s[:j])
			j -= size
		}
	}
	return j, true
}

// find places seg at its leftmost match at or after byte offset from and
// returns where that match ends.
func (seg segment) find(s string, from int) (int, bool) {
	if len(seg) == 0 {
		return from, true
	}
	if lead := seg[0].lit; lead != "" {
		// Jump between occurrences of the leading literal.
		for from <= len(s) {
			k := strings.Index(s[from:], lead)
			if k < 0 {
				return 0, false
			}
			if end, ok := seg.matchAt(s, from+k); ok {
				return end, true
			}
			from += k + 1
		}
		return 0, false
	}
	for from < len(s) {
		if end, ok := seg.matchAt(s, from); ok {
			return end, true
		}
		_, size := utf8.DecodeRuneInString(s[from:])
		from += size
	}
	return 0, false
}

// likeNode is x [NOT] LIKE pattern [ESCAPE c]. A NULL x is unknown.
type likeNode struct {
	x   expr
	pat *likePattern
	not bool
}

func (n *likeNode) eval(m *message.Message, dc uint32) value {
	x := n.x.eval(m, dc)
	if x.k != vString && x.k != vText {
		return value{}
	}
	return boolVal(n.pat.match(x.s) != n.not)
}
func (n *likeNode) prec() int { return precCompare }
func (n *likeNode) write(b *strings.Builder) {
	writeAt(b, n.x, precAdd)
	if n.not {
		b.WriteString(" NOT")
	}
	b.WriteString(" LIKE ")
	writeString(b, n.pat.src)
	if n.pat.esc >= 0 {
		b.WriteString(" ESCAPE ")
		writeString(b, string(n.pat.esc))
	}
}
