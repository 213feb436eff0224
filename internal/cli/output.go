package cli

import (
	"fmt"
	"io"
	"sync"
	"unicode"
)

// lineWriter serialises lines from concurrent goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newLineWriter(w io.Writer) *lineWriter { return &lineWriter{w: w} }

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	fmt.Fprintf(l.w, format, args...)
	l.mu.Unlock()
}

// displayWidth is how many terminal columns s takes: combining marks and
// other zero-width characters take none, East Asian wide and fullwidth
// characters (CJK, Hangul, kana, fullwidth forms, most emoji) take two,
// every other character one. It follows Unicode's East Asian Width closely
// enough for table layout without a table of its own.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r == 0 || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r) ||
			r == 0x200B || (r >= 0x1160 && r <= 0x11FF):
		case wide(r):
			n += 2
		default:
			n++
		}
	}
	return n
}

// wide reports whether r is an East Asian wide or fullwidth character.
func wide(r rune) bool {
	return r >= 0x1100 && r <= 0x115F || // Hangul Jamo initials
		r >= 0x2E80 && r <= 0x303E || // CJK radicals, punctuation
		r >= 0x3041 && r <= 0x33FF || // kana, CJK symbols
		r >= 0x3400 && r <= 0x4DBF || // CJK extension A
		r >= 0x4E00 && r <= 0x9FFF || // CJK unified ideographs
		r >= 0xA000 && r <= 0xA4CF || // Yi
		r >= 0xAC00 && r <= 0xD7A3 || // Hangul syllables
		r >= 0xF900 && r <= 0xFAFF || // CJK compatibility ideographs
		r >= 0xFE30 && r <= 0xFE4F || // CJK compatibility forms
		r >= 0xFF00 && r <= 0xFF60 || // fullwidth forms
		r >= 0xFFE0 && r <= 0xFFE6 ||
		r >= 0x1F300 && r <= 0x1F64F || // pictographs, emoticons
		r >= 0x1F680 && r <= 0x1F6FF || // transport and map symbols
		r >= 0x1F900 && r <= 0x1F9FF || // supplemental symbols
		r >= 0x1FA70 && r <= 0x1FAFF ||
		r >= 0x20000 && r <= 0x3FFFD // CJK extensions B onwards
}
