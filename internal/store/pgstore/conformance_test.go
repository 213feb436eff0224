package pgstore

import (
	"testing"

	"tandem/internal/store"
	"tandem/internal/store/storetest"
)

// TestConformance runs the store conformance suite, which the file store
// and the memory store pass, on PostgreSQL.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		e := newEnv(t)
		return func(t *testing.T) store.Store {
			s, err := Open(t.Context(), e.options(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
