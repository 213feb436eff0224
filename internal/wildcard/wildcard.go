package wildcard

import "strings"

// Escape is the character that makes the next one literal, as in Artemis'
// wildcard configuration: "a\.b" is the one word "a\.b", not "a" and "b",
// and a word "\*" or "\#" is an ordinary word, not a wildcard. MQTT topics
// with a '.' map to addresses with "\." (internal/wire/mqtt), so that such
// a topic stays one word.
const Escape = '\\'

// Words splits a pattern into its words, with ActiveMQ Classic's '>'
// normalised to '#', and reports whether any word is a wildcard. A '*',
// '#' or '>' inside a longer word is an ordinary character, as in Artemis.
// Words are split at every '.' not escaped by a backslash; the escapes are
// kept in the words, so that a pattern and an address compare escape for
// escape.
func Words(pattern string) (words []string, wild bool) {
	words = split(pattern)
	for i, w := range words {
		switch w {
		case "*", "#":
			wild = true
		case ">":
			words[i] = "#"
			wild = true
		}
	}
	return words, wild
}

// split cuts s at each '.' that is not escaped. A backslash escapes the
// byte after it (a second backslash included), so "a\\.b" is "a\\" and
// "b". Without a backslash it is strings.Split.
func split(s string) []string {
	if strings.IndexByte(s, Escape) < 0 {
		return strings.Split(s, ".")
	}
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case Escape:
			i++ // the next byte is literal, whatever it is
		case '.':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Match reports whether address, a concrete name, matches the pattern
// given as its words (as Words returns them).
func Match(words []string, address string) bool {
	addr := split(address)
	// ok[j] says whether the pattern words seen so far match addr[:j].
	// Tracking every prefix keeps patterns with several '#' words linear in
	// the product of the lengths, where backtracking would be exponential.
	ok := make([]bool, len(addr)+1)
	next := make([]bool, len(addr)+1)
	ok[0] = true
	for _, w := range words {
		clear(next)
		switch w {
		case "#":
			// '#' extends any match by zero or more words.
			seen := false
			for j := range ok {
				seen = seen || ok[j]
				next[j] = seen
			}
		case "*":
			for j := 1; j <= len(addr); j++ {
				next[j] = ok[j-1]
			}
		default:
			for j := 1; j <= len(addr); j++ {
				next[j] = ok[j-1] && addr[j-1] == w
			}
		}
		ok, next = next, ok
	}
	return ok[len(addr)]
}
