package broker

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"tandem/internal/largemsg"
	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

// largeBroker starts a broker with large messages in dir.
func largeBroker(t *testing.T, st *memstore.Store, dir string, edit func(*AddressSettings)) *Broker {
	t.Helper()
	ls, err := largemsg.Open(largemsg.Options{Dir: dir, NewID: st.NewID})
	if err != nil {
		t.Fatal(err)
	}
	return startBroker(t, st, Options{Large: ls, Settings: settingsWith(edit)})
}

// largeMsg writes body as a large body through s and returns its message.
func largeMsg(t *testing.T, s *Session, addr string, body []byte) *message.Message {
	t.Helper()
	w, err := s.CreateLargeBody()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	m := msg(addr, "")
	m.Body = nil
	m.SetLarge(&message.Large{ID: w.ID(), Size: int64(len(body))})
	return m
}

func bodyFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.msg"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	sort.Strings(names)
	return names
}

func readBody(t *testing.T, s *Session, d Delivery) []byte {
	t.Helper()
	rc, err := s.OpenLargeBody(d.Message.Large())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLargeBodyLivesAsLongAsItsMessage(t *testing.T) {
	dir := t.TempDir()
	st := memstore.New()
	b := largeBroker(t, st, dir, func(s *AddressSettings) { s.MaxDeliveryAttempts = 1 })
	s := session(t, b, "")
	body := bytes.Repeat([]byte("0123456789"), 20000)
	if s.LargeMessageThreshold("q") != 100<<10 {
		t.Fatalf("threshold %d, want the 100 KiB default", s.LargeMessageThreshold("q"))
	}
	send(t, s, largeMsg(t, s, "q", body))
	send(t, s, largeMsg(t, s, "poison", body))
	topic := largeMsg(t, s, "nobody.listens", body)
	topic.RoutingType = message.Multicast
	send(t, s, topic) // routed nowhere: its body goes at once
	if got := len(bodyFiles(t, dir)); got != 2 {
		t.Fatalf("%d body files after three sends, one to a topic without subscribers; want 2", got)
	}

	// Across a restart the bodies are still there and readable.
	b = restart(t, b, st, Options{Large: b.opts.Large, Settings: b.opts.Settings})
	s = session(t, b, "")
	c, k := subscribe(t, s, SubscribeOptions{Address: "q", AckMode: AckIndividual})
	d := k.wait(t, 1)[0]
	if got := readBody(t, s, d); !bytes.Equal(got, body) {
		t.Fatalf("body after restart is %d bytes, want %d", len(got), len(body))
	}
	ack(t, d)
	s.Unsubscribe(c)

	// A dead letter keeps a body of its own after the original goes.
	pc, pk := subscribe(t, s, SubscribeOptions{Address: "poison", AckMode: AckIndividual})
	pd := pk.wait(t, 1)[0]
	pd.Consumer.Nack(pd.ID, nil, nil)
	_, dk := subscribe(t, s, SubscribeOptions{Address: "DLQ", AckMode: AckIndividual})
	dd := dk.wait(t, 1)[0]
	if got := readBody(t, s, dd); !bytes.Equal(got, body) {
		t.Fatalf("dead letter body is %d bytes, want %d", len(got), len(body))
	}
	b.deleter.flush()
	if n := len(bodyFiles(t, dir)); n != 1 {
		t.Fatalf("%d body files while only the dead letter is left, want 1", n)
	}
	ack(t, dd)
	s.Unsubscribe(pc)
	b.deleter.flush()
	if files := bodyFiles(t, dir); len(files) != 0 {
		t.Fatalf("body files left after every message was consumed: %v", files)
	}
}

func TestOrphanBodiesAreCleanedAtStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "424242.msg"), []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "7.tmp"), []byte("half written"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	b := largeBroker(t, st, dir, func(*AddressSettings) {})
	s := session(t, b, "")
	send(t, s, largeMsg(t, s, "kept", []byte("a body")))
	b = restart(t, b, st, Options{Large: b.opts.Large})
	b.deleter.flush()
	if files := bodyFiles(t, dir); len(files) != 1 {
		t.Fatalf("body files after restart: %v; want only the stored message's", files)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) != 0 {
		t.Fatalf("half-written bodies kept: %v", tmp)
	}
}

func TestLargeTopicMessageReachesEveryAutoAckSubscriber(t *testing.T) {
	dir := t.TempDir()
	b := largeBroker(t, memstore.New(), dir, func(*AddressSettings) {})
	s := session(t, b, "")
	body := bytes.Repeat([]byte("topic body "), 20000)
	var sinks []*sink
	for i := 0; i < 3; i++ {
		k := newSink()
		reading := func(d Delivery) {
			// Open the body while the delivery is handed over, as the
			// STOMP adapter does.
			rc, err := s.OpenLargeBody(d.Message.Large())
			if err != nil {
				t.Errorf("subscriber cannot open the body: %v", err)
			} else {
				rc.Close()
			}
			k.deliver(d)
		}
		if _, err := s.Subscribe(SubscribeOptions{Address: "news", RoutingType: message.Multicast, Deliver: reading}); err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, k)
	}
	m := largeMsg(t, s, "news", body)
	m.RoutingType = message.Multicast
	send(t, s, m)
	for _, k := range sinks {
		k.wait(t, 1)
	}
	b.deleter.flush()
	if files := bodyFiles(t, dir); len(files) != 0 {
		t.Fatalf("body kept after every auto-ack subscriber had it: %v", files)
	}
}
