package protocoltest

import (
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/protocol"
)

// GateFree checks that a turn at g can be taken within a few seconds: no
// connection keeps the slot.
func GateFree(t testing.TB, g *protocol.IngestGate) {
	t.Helper()
	took := make(chan struct{})
	turn := protocol.NewTurn(g)
	go func() {
		turn.Take()
		close(took)
	}()
	select {
	case <-took:
		turn.Release()
	case <-time.After(5 * time.Second):
		t.Fatal("the ingest gate's only slot is still held")
	}
}

// LimitAt returns address settings under which address full holds at most
// limit bytes and then applies policy (BLOCK: its producers wait for room;
// PAGE: its messages go to page files), and every other address has the
// defaults.
func LimitAt(full string, limit int64, policy broker.FullPolicy) func(string) broker.AddressSettings {
	return func(addr string) broker.AddressSettings {
		s := broker.DefaultAddressSettings()
		if addr == full {
			s.MaxSizeBytes, s.FullPolicy = limit, policy
		}
		return s
	}
}
