package wildcard

import "strings"

// Words splits a pattern into its words, with ActiveMQ Classic's '>'
// normalised to '#', and reports whether any word is a wildcard. A '*',
// '#' or '>' inside a longer word is an ordinary character, as in Artemis.
func Words(pattern string) (words []string, wild bool) {
	words = strings.Split(pattern, ".")
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

// Match reports whether address, a concrete name, matches the pattern
// given as its words (as Words returns them).
func Match(words []string, address string) bool {
	addr := strings.Split(address, ".")
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
