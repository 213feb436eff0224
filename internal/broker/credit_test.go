package broker

import (
	"testing"
	"time"

	"tandem/internal/store/memstore"
)

// grants records the answers to credit requests.
type grants chan int

func (g grants) granted(n int) { g <- n }

// now returns a grant that came already, or fails.
func (g grants) now(t *testing.T) int {
	t.Helper()
	select {
	case n := <-g:
		return n
	default:
		t.Fatal("credit not granted at once")
		return 0
	}
}

// within waits for a grant.
func (g grants) within(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case n := <-g:
		return n
	case <-time.After(d):
		t.Fatalf("credit not granted within %v", d)
		return 0
	}
}

// none checks that no grant comes for a while.
func (g grants) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case n := <-g:
		t.Fatalf("credit of %d granted while the address is full", n)
	case <-time.After(d):
	}
}

func TestProducerCredit(t *testing.T) {
	t.Run("BLOCK withholds credit until consumers make room", func(t *testing.T) {
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 3<<10, FullBlock))
		s := session(t, b, "")
		g := make(grants, 4)
		s.RequestCredit("q", 1<<10, 1<<10, g.granted)
		if n := g.now(t); n != 1<<10 {
			t.Fatalf("granted %d, want %d", n, 1<<10)
		}
		// A session with credit is not held by a full address: these five
		// sends pass the 3 KiB limit without waiting.
		for i := 0; i < 5; i++ {
			send(t, s, msg("q", body(i)))
		}
		s.RequestCredit("q", 1<<10, 1<<10, g.granted)
		g.none(t, 200*time.Millisecond)
		_, k := subscribe(t, session(t, b, ""), SubscribeOptions{Address: "q", AckMode: AckIndividual, Window: 5})
		ds := k.wait(t, 5)
		g.none(t, 100*time.Millisecond) // delivered, not acknowledged: still held
		for _, d := range ds[:3] {
			d.Consumer.Ack(d.ID, nil, nil)
		}
		if n := g.within(t, 5*time.Second); n != 1<<10 {
			t.Fatalf("granted %d after room was made, want %d", n, 1<<10)
		}
	})
	t.Run("a BLOCK address grants the room it has, and at least the need", func(t *testing.T) {
		const limit = 3 << 10
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), limit, FullBlock))
		s := session(t, b, "")
		g := make(grants, 1)
		s.RequestCredit("q", 100, 64<<10, g.granted)
		if n := g.now(t); n != limit {
			t.Fatalf("granted %d on an empty address limited to %d", n, limit)
		}
		send(t, s, msg("q", body(0)))
		room := limit - int(b.addressSize("q"))
		s.RequestCredit("q", 100, 64<<10, g.granted)
		if n := g.now(t); n != room {
			t.Fatalf("granted %d with %d bytes of room", n, room)
		}
		s.RequestCredit("q", 2*room, 64<<10, g.granted)
		if n := g.now(t); n != 2*room {
			t.Fatalf("granted %d for a need of %d with %d bytes of room", n, 2*room, room)
		}
	})
	t.Run("a closed session's waiting request gets nothing", func(t *testing.T) {
		b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 2<<10, FullBlock))
		s := session(t, b, "")
		g := make(grants, 2)
		s.RequestCredit("q", 1<<10, 1<<10, g.granted)
		g.now(t)
		for i := 0; i < 3; i++ {
			send(t, s, msg("q", body(i)))
		}
		s.RequestCredit("q", 1<<10, 1<<10, g.granted)
		g.none(t, 100*time.Millisecond)
		s.Close()
		if n := g.within(t, 5*time.Second); n != 0 {
			t.Fatalf("a closed session was granted %d", n)
		}
	})
	t.Run("BLOCK on global-max-size counts every address", func(t *testing.T) {
		opts := pagedOptions(t, t.TempDir(), -1, FullBlock)
		opts.GlobalMaxSize = 3 << 10
		b := startBroker(t, memstore.New(), opts)
		s := session(t, b, "")
		g := make(grants, 2)
		s.RequestCredit("a", 1<<10, 1<<10, g.granted)
		g.now(t)
		for i := 0; i < 3; i++ {
			send(t, s, msg("a", body(i)))
		}
		// Another address, one that does not exist yet, waits too.
		s.RequestCredit("b", 1<<10, 1<<10, g.granted)
		g.none(t, 200*time.Millisecond)
		_, k := subscribe(t, session(t, b, ""), SubscribeOptions{Address: "a"})
		k.wait(t, 3)
		g.within(t, 5*time.Second)
	})
	for _, policy := range []FullPolicy{FullPage, FullFail, FullDrop} {
		t.Run("other policies grant at once", func(t *testing.T) {
			b := startBroker(t, memstore.New(), pagedOptions(t, t.TempDir(), 1<<10, policy))
			s := session(t, b, "")
			for i := 0; i < 3; i++ {
				s.Send(msg("q", body(i)), nil, func(error) {})
			}
			g := make(grants, 1)
			s.RequestCredit("q", 1<<10, 1<<10, g.granted)
			g.now(t)
		})
	}
}

func TestSendMayWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int64
		global   int64
		policy   FullPolicy
		credited bool
		want     bool
	}{
		{"BLOCK with max-size-bytes", 1 << 10, 0, FullBlock, false, true},
		{"BLOCK with global-max-size only", -1, 1 << 20, FullBlock, false, true},
		{"BLOCK without a limit", -1, 0, FullBlock, false, false},
		{"BLOCK for a session that takes credit", 1 << 10, 0, FullBlock, true, false},
		{"PAGE", 1 << 10, 0, FullPage, false, false},
		{"FAIL", 1 << 10, 0, FullFail, false, false},
		{"DROP", 1 << 10, 0, FullDrop, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{GlobalMaxSize: tc.global, Settings: settingsWith(func(s *AddressSettings) {
				s.MaxSizeBytes, s.FullPolicy = tc.max, tc.policy
			})}
			s := session(t, startBroker(t, memstore.New(), opts), "")
			if tc.credited {
				g := make(grants, 1)
				s.RequestCredit("q", 1, 1, g.granted)
				g.now(t)
			}
			if got := s.SendMayWait("q"); got != tc.want {
				t.Fatalf("SendMayWait = %v, want %v", got, tc.want)
			}
		})
	}
}
