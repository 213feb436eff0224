package broker

import (
	"errors"
	"testing"

	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

func TestConnectionsAndConsumersSnapshot(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s1, err := b.NewSession(SessionInfo{User: "alice", RemoteAddr: "10.0.0.1:1", Protocol: "stomp", ClientID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.NewSession(SessionInfo{User: "bob", RemoteAddr: "10.0.0.2:2", Protocol: "stomp"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	k := newSink()
	if _, err := s1.Subscribe(SubscribeOptions{Address: "q", AckMode: AckIndividual, Priority: 3, Deliver: k.deliver}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := b.SendMessage(&message.Message{Address: "q", Durable: true, Body: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	k.wait(t, 3)

	conns := b.Connections()
	if len(conns) != 2 || conns[0].User != "alice" || conns[0].Consumers != 1 || conns[0].ClientID != "c1" ||
		conns[1].User != "bob" || conns[1].Consumers != 0 {
		t.Fatalf("Connections() = %+v", conns)
	}
	cons := b.Consumers()
	if len(cons) != 1 || cons[0].Queue != "q" || cons[0].SessionID != conns[0].ID || cons[0].Delivering != 3 ||
		cons[0].AckMode.String() != "client-individual" || cons[0].Priority != 3 || cons[0].RemoteAddr != "10.0.0.1:1" {
		t.Fatalf("Consumers() = %+v", cons)
	}

	s1.Close()
	if conns := b.Connections(); len(conns) != 1 || conns[0].User != "bob" {
		t.Fatalf("after alice left, Connections() = %+v", conns)
	}
	if cons := b.Consumers(); len(cons) != 0 {
		t.Fatalf("after alice left, Consumers() = %+v", cons)
	}
}

func TestBrowseQueueForManagement(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	if _, err := b.BrowseQueue("missing", 0); !errors.Is(err, ErrNoSuchQueue) {
		t.Fatalf("BrowseQueue(missing) error = %v, want ErrNoSuchQueue", err)
	}
	if err := b.CreateQueue(QueueConfig{Name: "q", Durable: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []uint8{1, 9, 4} {
		if err := b.SendMessage(&message.Message{Address: "q", Durable: true, Priority: p, Body: []byte{'0' + p}}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := b.BrowseQueue("q", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Message.Priority != 9 || items[1].Message.Priority != 4 {
		t.Fatalf("BrowseQueue(q, 2) gave priorities %v, want the two highest first", items)
	}
	if q, _ := b.Queue("q"); q.Messages != 3 {
		t.Fatalf("browsing consumed messages: depth %d", q.Messages)
	}
}
