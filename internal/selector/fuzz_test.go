package selector

import (
	"errors"
	"testing"

	"tandem/internal/message"
)

// messageCase is a message and the delivery count to match it with.
type messageCase struct {
	m  *message.Message
	dc uint32
}

// fuzzMessages returns messages whose properties have the names the seed
// corpus uses, with numbers, booleans, text, empty and non-ASCII values, so
// that fuzzed selectors exercise every conversion.
func fuzzMessages() []*messageCase {
	return []*messageCase{
		{bareMessage(), 0},
		{fullMessage("a=1", "b=2.5", "c=red", "n=-7", "x=true", "flag=TRUE", "color=red", "weight=3.7"), 1},
		{fullMessage("a=abc", "b=", "c=r_d%", "n=9223372036854775807", "x=1e3", "flag=no", "color=it's", "weight=0"), 2},
		{bareMessage("a=0", "b=-0.0", "c=é😀", "n=0x10", "x=FALSE", "flag=false", "color=", "weight=NaN"), 9},
	}
}

// checkRoundTrip compiles sel and checks that its String compiles to the
// same String and the same answers on msgs; Match must not panic.
func checkRoundTrip(t *testing.T, sel string, msgs []*messageCase) {
	t.Helper()
	s, err := Compile(sel)
	if err != nil {
		t.Fatalf("Compile(%q): %v", sel, err)
	}
	text := s.String()
	if len(text) > MaxLength {
		// The canonical form may outgrow the limit; see String.
		return
	}
	again, err := Compile(text)
	if err != nil {
		t.Fatalf("Compile(%q) prints %q, which does not compile: %v", sel, text, err)
	}
	if again.String() != text {
		t.Fatalf("Compile(%q) prints %q, which prints %q", sel, text, again.String())
	}
	for _, mc := range msgs {
		if a, b := s.Match(mc.m, mc.dc), again.Match(mc.m, mc.dc); a != b {
			t.Fatalf("%q matches %v but its String %q matches %v on %+v", sel, a, text, b, mc.m)
		}
	}
}

// FuzzCompile checks that Compile never panics and rejects bad input only
// with a *SyntaxError that points inside the selector; and that a compiled
// selector matches without panicking and prints to text that compiles back
// to an equivalent selector. The seed corpus lives in
// testdata/fuzz/FuzzCompile.
func FuzzCompile(f *testing.F) {
	for _, c := range specCases {
		f.Add(c.sel)
	}
	for _, c := range syntaxCases {
		f.Add(c.sel)
	}
	msgs := fuzzMessages()
	f.Fuzz(func(t *testing.T, sel string) {
		s, err := Compile(sel)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("Compile(%q): %v is not a *SyntaxError", sel, err)
			}
			if se.Pos < 0 || se.Pos > len(sel) || se.Msg == "" {
				t.Fatalf("Compile(%q): bad error position or message: %d %q", sel, se.Pos, se.Msg)
			}
			_ = se.Error()
			_ = se.Caret()
			return
		}
		for _, mc := range msgs {
			s.Match(mc.m, mc.dc)
		}
		checkRoundTrip(t, sel, msgs)
	})
}
