package config

import (
	"strings"
	"testing"
	"time"
)

func TestStoreParse(t *testing.T) {
	c, err := Parse([]byte(`store:
  type: database-store
  jdbc-connection-url: jdbc:postgresql://db:5432/art?user=a
  jdbc-password: pw
  message-table-name: MESSAGES
  jdbc-lock-renew-period: 250
  jdbc-lock-expiration: 2000
`), "b.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := c.Store
	if !c.Database() || s.URL != "jdbc:postgresql://db:5432/art?user=a" || s.Password != "pw" || s.MessageTable != "MESSAGES" ||
		s.BindingsTable != DefaultBindingsTable || s.LockRenewPeriod != 250*time.Millisecond || s.LockExpiration != 2*time.Second {
		t.Fatalf("store %+v", s)
	}
	d, err := Parse([]byte("name: x\n"), "b.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d.Database() || d.Store != defaultStore() {
		t.Fatalf("default store %+v", d.Store)
	}
}

func TestStoreProblems(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"store: {type: database}", "type database needs url"},
		{"store: {type: database, url: mysql://db/x}", `scheme "mysql" is not PostgreSQL's`},
		{"store: {type: database, url: 'postgres://db/x', jdbc-connection-url: 'postgres://db/y'}", "the URL is given twice"},
		{"store: {type: database, url: 'postgres://db/x', message-table-name: 'my-table'}", "not a table name"},
		{"store: {type: database, url: 'postgres://db/x', message-table-name: t1, bindings-table-name: T1}", "each table needs its own name"},
		{"store: {type: database, url: 'postgres://db/x', jdbc-lock-expiration: 100}", "jdbc-lock-expiration: 100ms is too short"},
		{"store: {type: database, url: 'postgres://db/x', jdbc-lock-renew-period: 2s}", "at most half of jdbc-lock-expiration"},
		{"store: {type: database, url: 'postgres://db/x'}\npersistence-enabled: false", "needs persistence-enabled: true"},
		{"store: {url: 'postgres://db/x'}", "store.type is file"},
		{"store: {type: oracle}", `"oracle" is not valid; expected file or database`},
	} {
		_, err := Parse([]byte(tc.yaml), "b.yaml", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant a problem containing %q", tc.yaml, err, tc.want)
		}
	}
}
