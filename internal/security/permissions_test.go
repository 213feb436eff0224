package security

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, address string
		want             bool
	}{
		{"#", "anything.at.all", true},
		{"#", "", true},
		{">", "a.b", true},
		{"orders", "orders", true},
		{"orders", "orders.eu", false},
		{"orders.*", "orders.eu", true},
		{"orders.*", "orders", false},
		{"orders.*", "orders.eu.paris", false},
		{"orders.#", "orders", true},
		{"orders.#", "orders.eu.paris", true},
		{"orders.>", "orders.eu.paris", true},
		{"orders.#", "ordersx", false},
		{"*.eu.#", "orders.eu", true},
		{"*.eu.#", "orders.us.eu", false},
		{"#.paris", "orders.eu.paris", true},
		{"#.paris", "paris", true},
		{"a.#.b.#.c", "a.x.b.y.z.c", true},
		{"a.#.b.#.c", "a.b.c", true},
		{"a.#.b.#.c", "a.c.b", false},
		{"a*", "a*", true},
		{"a*", "ab", false},
		{"*", "", true},
		{"*", "a.b", false},
	}
	for _, tc := range tests {
		p, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(tc.address); got != tc.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tc.pattern, tc.address, got, tc.want)
		}
	}
	if _, err := ParsePattern(""); !errors.Is(err, ErrBadPattern) {
		t.Errorf("empty pattern err = %v", err)
	}
}

func TestPatternMatchManyHashesIsFast(t *testing.T) {
	// Backtracking would take exponential time here.
	p, _ := ParsePattern(strings.Repeat("#.", 40) + "x")
	addr := strings.Repeat("a.", 60) + "y"
	if p.Match(addr) {
		t.Fatal("matched")
	}
}

func TestComparePatterns(t *testing.T) {
	// Each pattern is strictly more specific than every one after it.
	order := []string{"orders.eu", "orders.eu.*", "orders.eu.#", "orders.*.*", "orders.*", "orders.*.#", "orders.#", "*.*", "*", "*.#", "#"}
	ps := make([]Pattern, len(order))
	for i, s := range order {
		ps[i], _ = ParsePattern(s)
	}
	for i := range ps {
		for j := range ps {
			got := ComparePatterns(ps[i], ps[j])
			switch {
			case i < j && got >= 0, i > j && got <= 0, i == j && got != 0:
				t.Errorf("ComparePatterns(%q, %q) = %d", order[i], order[j], got)
			}
		}
	}
}

func TestParsePermission(t *testing.T) {
	for in, want := range map[string]Permission{
		"send": PermSend, "createDurableQueue": PermCreateDurableQueue,
		"create-durable-queue": PermCreateDurableQueue, "DELETE-ADDRESS": PermDeleteAddress, "manage": PermManage,
	} {
		got, err := ParsePermission(in)
		if err != nil || got != want {
			t.Errorf("ParsePermission(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParsePermission("publish"); !errors.Is(err, ErrUnknownPermission) || !strings.Contains(err.Error(), "createDurableQueue") {
		t.Errorf("err = %v, want ErrUnknownPermission listing the names", err)
	}
}

func TestPermissionsCheck(t *testing.T) {
	all := func(roles ...string) map[Permission][]string {
		m := make(map[Permission][]string)
		for _, p := range AllPermissions() {
			m[p] = roles
		}
		return m
	}
	perms, err := NewPermissions([]Rule{
		{Match: "#", Roles: all("amq")},
		{Match: "orders.#", Roles: map[Permission][]string{PermSend: {"shop"}, PermConsume: {"warehouse", "amq"}}},
		{Match: "orders.audit", Roles: map[Permission][]string{PermBrowse: {"auditor"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	amq := Principal{User: "admin", Roles: []string{"amq"}}
	shop := Principal{User: "shop", Roles: []string{"shop"}}
	auditor := Principal{User: "eve", Roles: []string{"auditor"}}
	tests := []struct {
		who  Principal
		perm Permission
		addr string
		want bool
	}{
		{amq, PermSend, "TEST", true},
		{amq, PermManage, "TEST", true},
		{shop, PermSend, "TEST", false},
		{shop, PermSend, "orders.eu", true},
		{shop, PermSend, "orders", true},
		// The most specific rule alone decides: "orders.#" does not grant
		// send to amq, and "#" is not consulted.
		{amq, PermSend, "orders.eu", false},
		{amq, PermConsume, "orders.eu", true},
		{auditor, PermBrowse, "orders.audit", true},
		{shop, PermSend, "orders.audit", false},
		{auditor, PermBrowse, "orders.eu", false},
	}
	for _, tc := range tests {
		if got := perms.Check(tc.who, tc.perm, tc.addr); got != tc.want {
			t.Errorf("Check(%s, %s, %q) = %v, want %v", tc.who.User, tc.perm, tc.addr, got, tc.want)
		}
	}
	roles, match := perms.Allowed(PermConsume, "orders.x")
	if match != "orders.#" || !slices.Equal(roles, []string{"warehouse", "amq"}) {
		t.Errorf("Allowed = %v, %q", roles, match)
	}
	err = perms.Require(shop, PermConsume, "orders.x")
	if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), `"orders.#" grants consume to roles [warehouse amq]`) {
		t.Errorf("Require err = %v", err)
	}
	if err := perms.Require(amq, PermSend, "x"); err != nil {
		t.Errorf("Require = %v", err)
	}
}

func TestPermissionsNoMatchDenies(t *testing.T) {
	perms, err := NewPermissions([]Rule{{Match: "a.*", Roles: map[Permission][]string{PermSend: {"amq"}}}})
	if err != nil {
		t.Fatal(err)
	}
	p := Principal{User: "u", Roles: []string{"amq"}}
	if perms.Check(p, PermSend, "b") {
		t.Fatal("an address no rule matches was allowed")
	}
	if err := perms.Require(p, PermSend, "b"); err == nil || !strings.Contains(err.Error(), "no security-settings entry matches") {
		t.Fatalf("err = %v", err)
	}
	var none *Permissions
	if none.Check(p, PermSend, "a.b") {
		t.Fatal("nil Permissions allowed an operation")
	}
}

func TestNewPermissionsErrors(t *testing.T) {
	_, err := NewPermissions([]Rule{
		{Match: ""},
		{Match: "a", Roles: map[Permission][]string{"publish": {"x"}}},
		{Match: "b"}, {Match: "b"},
	})
	for _, want := range []error{ErrBadPattern, ErrUnknownPermission} {
		if !errors.Is(err, want) {
			t.Errorf("err = %v, want it to wrap %v", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("got %d problems, want 3: %v", n, err)
	}
}

func FuzzPatternMatch(f *testing.F) {
	f.Add("orders.#", "orders.eu")
	f.Add("#.*.#", "a.b")
	f.Add("..", ".")
	f.Fuzz(func(t *testing.T, pattern, address string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		if p.IsLiteral() && p.Match(address) != (pattern == address) {
			t.Fatalf("literal %q vs %q", pattern, address)
		}
		// Appending ".#" can only widen a pattern.
		if wider, _ := ParsePattern(pattern + ".#"); p.Match(address) && !wider.Match(address) {
			t.Fatalf("%q matches %q but %q does not", pattern, address, pattern+".#")
		}
	})
}
