package memstore

import (
	"testing"

	"tandem/internal/store"
	"tandem/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		s := New()
		return func(t *testing.T) store.Store {
			s.Reopen()
			return s
		}
	})
}
