package wildcard

import (
	"slices"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, address string
		want             bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"a.#", "a", true},
		{"a.#", "a.b.c", true},
		{"a.>", "a.b.c", true},
		{"#", "anything.at.all", true},
		{"#.c", "c", true},
		{"#.c", "a.b.c", true},
		{"#.c", "a.b.d", false},
		{"a.#.c.#.e", "a.c.e", true},
		{"a.#.c.#.e", "a.x.c.y.z.e", true},
		{"a.#.c.#.e", "a.x.y.z.e", false},
		{"*.*", "a.b", true},
		{"*.*", "a", false},
		{"a*.b", "a*.b", true}, // '*' inside a word is literal
		{"a*.b", "ab.b", false},
		{"#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.x", "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.y", false},
		// An escaped '.' is part of its word (the MQTT topic "v1.2/x" is
		// the address "v1\.2.x").
		{`v1\.2.*`, `v1\.2.x`, true},
		{`v1\.2.*`, `v1.2.x`, false},
		{`*.x`, `v1\.2.x`, true},
		{`*.*.x`, `v1\.2.x`, false},
		{`#`, `a\.b`, true},
		{`a.#`, `a\.b`, false},
		{`a\.b`, `a\.b`, true},
		{`a.b`, `a\.b`, false},
		{`a\.b`, `a.b`, false},
		// Escaped wildcards are ordinary words.
		{`a.\*`, `a.\*`, true},
		{`a.\*`, `a.b`, false},
		{`a.\#`, `a.b.c`, false},
		// A backslash escapes a backslash: "a\\" is one word, then "b".
		{`a\\.*`, `a\\.b`, true},
		{`*.b`, `a\\.b`, true},
		// A trailing backslash escapes nothing.
		{`a\`, `a\`, true},
	}
	for _, tt := range tests {
		words, _ := Words(tt.pattern)
		if got := Match(words, tt.address); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.address, got, tt.want)
		}
	}
}

func TestWords(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		wild    bool
	}{{"a.b", false}, {"a.*", true}, {"#", true}, {"a.>", true}, {"a>.b", false},
		{`a.\*`, false}, {`a.\#`, false}, {`a\.*`, false}, {`a\..*`, true}} {
		if _, wild := Words(tt.pattern); wild != tt.wild {
			t.Errorf("Words(%q) wild = %v, want %v", tt.pattern, wild, tt.wild)
		}
	}
}

func TestWordsSplitsOnUnescapedDots(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"a.b.c", []string{"a", "b", "c"}},
		{`a\.b.c`, []string{`a\.b`, "c"}},
		{`a\\.b`, []string{`a\\`, "b"}},
		{`\.`, []string{`\.`}},
		{`.a\.`, []string{"", `a\.`}},
		{"", []string{""}},
	} {
		got, _ := Words(tt.in)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Words(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
