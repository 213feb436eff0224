package broker

import "tandem/internal/wildcard"

// Wildcard addresses follow Artemis: an address name is a list of words
// separated by '.', a word '*' matches exactly one word and a word '#'
// matches zero or more words. ActiveMQ Classic's '>' is accepted as '#'. A
// '*', '#' or '>' inside a longer word is an ordinary character.
//
// A subscription on a wildcard address is a multicast queue bound to that
// address like any other; what makes it see other addresses' messages is
// the match index below: every concrete address keeps the list of wildcard
// addresses that match it (address.wild), so routing a message costs one
// extra slice walk and no pattern matching on the send path.

// wildcardPattern is a parsed wildcard address.
type wildcardPattern struct {
	words []string // '>' normalised to '#'
}

// parseWildcard reports whether name contains a wildcard word and returns
// its parsed form.
func parseWildcard(name string) (wildcardPattern, bool) {
	words, wild := wildcard.Words(name)
	return wildcardPattern{words: words}, wild
}

// match reports whether address (a concrete name) matches the pattern. It
// runs only when an address or a wildcard subscription is created, never
// per message.
func (p wildcardPattern) match(address string) bool { return wildcard.Match(p.words, address) }

// indexAddressLocked links a newly registered address into the wildcard
// index: a wildcard address is added to the match list of every address it
// matches, and any address learns the wildcard addresses that match it. It
// requires b.mu held for writing.
func (b *Broker) indexAddressLocked(a *address) {
	if p, ok := parseWildcard(a.name); ok {
		a.pattern = &p
		b.wildcards = append(b.wildcards, a)
		for _, x := range b.addresses {
			if x != a && x.pattern == nil && p.match(x.name) {
				x.wild = append(x.wild, a)
			}
		}
		return
	}
	for _, w := range b.wildcards {
		if w.pattern.match(a.name) {
			a.wild = append(a.wild, w)
		}
	}
}

// rebuildWildcardIndexLocked indexes every registered address from
// scratch, as recovery needs. It requires b.mu held for writing.
func (b *Broker) rebuildWildcardIndexLocked() {
	b.wildcards = b.wildcards[:0]
	for _, a := range b.addresses {
		a.wild = nil
		if p, ok := parseWildcard(a.name); ok {
			a.pattern = &p
			b.wildcards = append(b.wildcards, a)
		}
	}
	for _, a := range b.addresses {
		if a.pattern != nil {
			continue
		}
		for _, w := range b.wildcards {
			if w.pattern.match(a.name) {
				a.wild = append(a.wild, w)
			}
		}
	}
}

// unindexAddressLocked removes a deleted address from the wildcard index.
// It requires b.mu held for writing.
func (b *Broker) unindexAddressLocked(a *address) {
	if a.pattern == nil {
		return
	}
	b.wildcards = removeAddress(b.wildcards, a)
	for _, x := range b.addresses {
		if len(x.wild) > 0 {
			x.wild = removeAddress(x.wild, a)
		}
	}
}

func removeAddress(list []*address, a *address) []*address {
	for i, x := range list {
		if x == a {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}
