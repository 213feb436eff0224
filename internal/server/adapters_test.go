package server

import (
	"testing"

	"tandem/internal/broker"
	"tandem/internal/config"
	"tandem/internal/security"
)

// TestPermissionsRefuseUsersNoLongerThere checks that a user removed from
// the users file may do nothing on a connection it opened before, with or
// without security-settings, while anonymous clients are unaffected.
func TestPermissionsRefuseUsersNoLongerThere(t *testing.T) {
	users := map[string]bool{"alice": true}
	exists := func(u string) bool { return users[u] }
	p, err := security.NewPermissions(config.Default().SecurityRules())
	if err != nil {
		t.Fatal(err)
	}
	for _, pa := range []permAdapter{{p: p, exists: exists}, {exists: exists}} {
		if !pa.Authorize("alice", []string{"guest"}, broker.PermSend, "orders") {
			t.Fatal("alice may not send while she exists")
		}
		if pa.Authorize("bob", []string{"guest"}, broker.PermSend, "orders") {
			t.Fatal("a user missing from the users file may send")
		}
		if !pa.Authorize(security.AnonymousUser, []string{"guest"}, broker.PermSend, "orders") {
			t.Fatal("an anonymous client was refused")
		}
	}
}
