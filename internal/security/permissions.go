package security

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"tandem/internal/wildcard"
)

// ErrBadPattern reports an address pattern that cannot be used.
var ErrBadPattern = errors.New("invalid address pattern")

// ErrUnknownPermission reports a permission name that is not one of
// AllPermissions.
var ErrUnknownPermission = errors.New("unknown permission")

// ErrPermissionDenied is wrapped by Permissions.Require when a principal
// lacks a permission.
var ErrPermissionDenied = errors.New("permission denied")

// Pattern is an address pattern in Artemis' wildcard syntax: words separated
// by '.', where a '*' word matches exactly one word and a '#' word matches
// zero or more words. ActiveMQ Classic's '>' is accepted as a synonym of '#'.
// A '*' or '#' inside a longer word is an ordinary character, as in Artemis.
type Pattern struct {
	text  string
	words []string // with '>' normalized to '#'
	// Counts used to order patterns by specificity.
	literals, singles, multis int
}

// ParsePattern parses an address pattern.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("%w: the pattern is empty; use # to match every address", ErrBadPattern)
	}
	p := Pattern{text: s, words: strings.Split(s, ".")}
	for i, w := range p.words {
		switch w {
		case "*":
			p.singles++
		case "#", ">":
			p.words[i] = "#"
			p.multis++
		default:
			p.literals++
		}
	}
	return p, nil
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.text }

// IsLiteral reports whether the pattern has no wildcard and so matches only
// the address spelled exactly like it.
func (p Pattern) IsLiteral() bool { return p.singles == 0 && p.multis == 0 }

// Match reports whether address matches the pattern.
func (p Pattern) Match(address string) bool {
	if p.IsLiteral() {
		return address == p.text
	}
	if len(p.words) == 1 && p.multis == 1 {
		return true // "#" matches everything
	}
	return wildcard.Match(p.words, address)
}

// ComparePatterns orders patterns by specificity: it is negative when a is
// more specific than b, positive when b is, and zero only when they are the
// same text. Specificity decides which of several matching settings apply:
//
//  1. a pattern without wildcards beats any pattern with one;
//  2. more literal words beat fewer ("orders.eu.#" beats "orders.#");
//  3. fewer '#' words beat more ('#' matches more than '*');
//  4. more '*' words beat fewer, since each one demands a word
//     ("orders.*.#" beats "orders.#");
//  5. a longer text beats a shorter one, and finally byte order, so that
//     the order is total and the result never depends on map iteration.
func ComparePatterns(a, b Pattern) int {
	if a.IsLiteral() != b.IsLiteral() {
		if a.IsLiteral() {
			return -1
		}
		return 1
	}
	if a.literals != b.literals {
		return b.literals - a.literals
	}
	if a.multis != b.multis {
		return a.multis - b.multis
	}
	if a.singles != b.singles {
		return b.singles - a.singles
	}
	if len(a.text) != len(b.text) {
		return len(b.text) - len(a.text)
	}
	return strings.Compare(a.text, b.text)
}

// Permission is one kind of operation guarded by security-settings, named
// as in Artemis.
type Permission string

// The permissions of Artemis' security-settings.
const (
	PermSend                  Permission = "send"
	PermConsume               Permission = "consume"
	PermBrowse                Permission = "browse"
	PermCreateDurableQueue    Permission = "createDurableQueue"
	PermDeleteDurableQueue    Permission = "deleteDurableQueue"
	PermCreateNonDurableQueue Permission = "createNonDurableQueue"
	PermDeleteNonDurableQueue Permission = "deleteNonDurableQueue"
	PermCreateAddress         Permission = "createAddress"
	PermDeleteAddress         Permission = "deleteAddress"
	PermManage                Permission = "manage"
)

// AllPermissions returns every permission, in Artemis' documentation order.
func AllPermissions() []Permission {
	return []Permission{
		PermSend, PermConsume, PermBrowse,
		PermCreateDurableQueue, PermDeleteDurableQueue,
		PermCreateNonDurableQueue, PermDeleteNonDurableQueue,
		PermCreateAddress, PermDeleteAddress, PermManage,
	}
}

// ParsePermission reads a permission name. It accepts Artemis' camelCase
// ("createDurableQueue") and the kebab-case of tandem's YAML
// ("create-durable-queue"), in any letter case.
func ParsePermission(s string) (Permission, error) {
	key := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	for _, p := range AllPermissions() {
		if strings.ToLower(string(p)) == key {
			return p, nil
		}
	}
	names := make([]string, 0, 10)
	for _, p := range AllPermissions() {
		names = append(names, string(p))
	}
	return "", fmt.Errorf("%w %q (expected one of %s)", ErrUnknownPermission, s, strings.Join(names, ", "))
}

// Rule grants permissions on the addresses matching Match, each to a list of
// roles: one entry of Artemis' security-settings.
type Rule struct {
	Match string
	Roles map[Permission][]string
}

// compiledRule is a Rule with its parsed pattern.
type compiledRule struct {
	pattern Pattern
	roles   map[Permission][]string
}

// Permissions evaluates security-settings with Artemis semantics: for an
// address, the most specific matching rule alone decides (rules are not
// merged), and a permission the rule does not grant is denied, as is any
// address no rule matches. Permissions is immutable and safe for concurrent
// use; a nil *Permissions denies everything.
type Permissions struct {
	rules []compiledRule // most specific first
}

// NewPermissions compiles rules. It fails on an invalid pattern, a repeated
// pattern or an unknown permission.
func NewPermissions(rules []Rule) (*Permissions, error) {
	p := &Permissions{}
	var errs []error
	seen := make(map[string]bool)
	for _, r := range rules {
		pat, err := ParsePattern(r.Match)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[r.Match] {
			errs = append(errs, fmt.Errorf("%w: %q appears twice; merge the two rules", ErrBadPattern, r.Match))
			continue
		}
		seen[r.Match] = true
		roles := make(map[Permission][]string, len(r.Roles))
		for perm, rs := range r.Roles {
			if _, err := ParsePermission(string(perm)); err != nil {
				errs = append(errs, fmt.Errorf("security setting %q: %w", r.Match, err))
				continue
			}
			roles[perm] = slices.Clone(rs)
		}
		p.rules = append(p.rules, compiledRule{pattern: pat, roles: roles})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(p.rules, func(a, b compiledRule) int { return ComparePatterns(a.pattern, b.pattern) })
	return p, nil
}

// ruleFor returns the most specific rule matching address.
func (p *Permissions) ruleFor(address string) (compiledRule, bool) {
	if p == nil {
		return compiledRule{}, false
	}
	for _, r := range p.rules {
		if r.pattern.Match(address) {
			return r, true
		}
	}
	return compiledRule{}, false
}

// Allowed returns the roles granted perm on address by the most specific
// matching rule, and that rule's pattern ("" when no rule matches).
func (p *Permissions) Allowed(perm Permission, address string) (roles []string, match string) {
	r, ok := p.ruleFor(address)
	if !ok {
		return nil, ""
	}
	return slices.Clone(r.roles[perm]), r.pattern.String()
}

// Check reports whether principal may perform perm on address.
func (p *Permissions) Check(principal Principal, perm Permission, address string) bool {
	r, ok := p.ruleFor(address)
	if !ok {
		return false
	}
	for _, role := range r.roles[perm] {
		if principal.HasRole(role) {
			return true
		}
	}
	return false
}

// Require is Check returning an error that says what is missing and how to
// grant it; the error wraps ErrPermissionDenied.
func (p *Permissions) Require(principal Principal, perm Permission, address string) error {
	if p.Check(principal, perm, address) {
		return nil
	}
	roles, match := p.Allowed(perm, address)
	if match == "" {
		return fmt.Errorf("%w: user %q may not %s on address %q: no security-settings entry matches it; add one (e.g. for \"#\") in broker.yaml",
			ErrPermissionDenied, principal.User, perm, address)
	}
	return fmt.Errorf("%w: user %q (roles %v) may not %s on address %q: security-settings %q grants %s to roles %v; give the user one of them",
		ErrPermissionDenied, principal.User, principal.Roles, perm, address, match, perm, roles)
}
