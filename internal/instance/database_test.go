package instance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
)

// TestCreateWithDatabase is tandem create --jdbc: the store section names
// the database, the file is private when it holds a password, and bad
// options are refused naming the flag.
func TestCreateWithDatabase(t *testing.T) {
	for _, tc := range []struct {
		name    string
		db      DatabaseOptions
		private bool
	}{
		{"no password", DatabaseOptions{URL: "postgres://tandem@db:5432/t"}, false},
		{"password in URL", DatabaseOptions{URL: "postgres://tandem:pw@db:5432/t"}, true},
		{"password in JDBC query", DatabaseOptions{URL: "jdbc:postgresql://db/t?user=u&password=pw"}, true},
		{"password flag", DatabaseOptions{URL: "postgres://db/t", User: "u", Password: "pw", MessageTable: "MESSAGES",
			LockRenewPeriod: time.Second, LockExpiration: 4 * time.Second}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.db
			inst, err := Create(CreateOptions{Dir: filepath.Join(t.TempDir(), "m"), AllowAnonymous: true, SharedStore: true,
				Executable: fakeExe, Database: &db})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := inst.LoadConfig()
			if err != nil {
				t.Fatal(err)
			}
			s := cfg.Store
			if !cfg.Database() || s.URL != db.URL || s.User != db.User || s.Password != db.Password || cfg.HA.Mode != config.HAPrimary {
				t.Fatalf("store %+v", s)
			}
			if db.MessageTable != "" && s.MessageTable != db.MessageTable || db.LockExpiration != 0 && s.LockExpiration != db.LockExpiration {
				t.Fatalf("table or lease not taken: %+v", s)
			}
			fi, err := os.Stat(inst.ConfigPath())
			if err != nil {
				t.Fatal(err)
			}
			if private := fi.Mode().Perm() == 0o600; private != tc.private {
				t.Fatalf("broker.yaml mode %v; holds a password: %v", fi.Mode().Perm(), tc.private)
			}
		})
	}
	for _, db := range []DatabaseOptions{{}, {URL: "mysql://db/t"}, {URL: "postgres://db/t", PageStoreTable: "page store"},
		{URL: "postgres://db/t", LockRenewPeriod: 3 * time.Second}} {
		_, err := Create(CreateOptions{Dir: filepath.Join(t.TempDir(), "m"), AllowAnonymous: true, Executable: fakeExe, Database: &db})
		if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), "--jdbc") {
			t.Errorf("Create with %+v: %v, want an error about --jdbc", db, err)
		}
	}
}
