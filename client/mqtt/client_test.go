package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"tandem/client/mqtt"
	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/protocol"
	mqttproto "tandem/internal/protocol/mqtt"
	"tandem/internal/store/memstore"
	wire "tandem/internal/wire/mqtt"
)

type auth struct{}

func (auth) Authenticate(_, login, pass string) (protocol.Identity, error) {
	if login == "" || login == "admin" && pass == "admin" {
		return protocol.Identity{User: login}, nil
	}
	return protocol.Identity{}, errors.New("bad credentials")
}

// startBroker runs tandem's broker with its MQTT adapter on a free port.
func startBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.New(broker.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := mqttproto.NewServer(mqttproto.Options{Env: protocol.Env{Broker: b, Auth: auth{}}, Context: ctx, ReceiveMaximum: 50})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{srv}})
	go l.Serve()
	t.Cleanup(func() {
		cancel()
		c, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		l.Close(c)
		b.Close()
	})
	return "tcp://" + ln.Addr().String()
}

func TestPublishSubscribeEveryQoSAndVersion(t *testing.T) {
	url := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, v := range []wire.Version{mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			sub, err := mqtt.Dial(ctx, url, mqtt.Options{ClientID: "sub" + v.String(), Version: v, CleanStart: true})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if _, err := sub.Subscribe(ctx, mqtt.Subscription{Filter: "t/" + v.String() + "/#", QoS: 2}); err != nil {
				t.Fatal(err)
			}
			pub, err := mqtt.Dial(ctx, url, mqtt.Options{ClientID: "pub" + v.String(), Version: v, CleanStart: true,
				Username: "admin", Password: "admin"})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			for q := wire.QoS0; q <= wire.QoS2; q++ {
				m := &mqtt.Message{Topic: "t/" + v.String() + "/x", Payload: []byte(fmt.Sprint(q)), QoS: q}
				if v == mqtt.V5 {
					m.Properties = wire.Properties{wire.UserProp("q", fmt.Sprint(q))}
				}
				if err := pub.Publish(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			for q := wire.QoS0; q <= wire.QoS2; q++ {
				m, err := sub.Receive(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if string(m.Payload) != fmt.Sprint(q) || m.QoS != q {
					t.Fatalf("got %q at QoS %d, want QoS %d", m.Payload, m.QoS, q)
				}
				if v == mqtt.V5 {
					if u, _ := m.Properties.Get(wire.PropUser); u.Str != fmt.Sprint(q) {
						t.Fatalf("user property %+v", u)
					}
				}
				if err := m.Ack(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestPublishAsyncKeepsManyInFlight(t *testing.T) {
	url := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mqtt.Dial(ctx, url, mqtt.Options{ClientID: "p", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := mqtt.Dial(ctx, url, mqtt.Options{ClientID: "s", CleanStart: true, AutoAck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Subscribe(ctx, mqtt.Subscription{Filter: "load", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	wg.Add(n)
	for i := 0; i < n; i++ {
		err := c.PublishAsync(ctx, &mqtt.Message{Topic: "load", QoS: 1, Payload: []byte(fmt.Sprint(i))}, func(err error) {
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
			wg.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	for i := 0; i < n; i++ {
		m, err := s.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: out of order", i, m.Payload)
		}
	}
}

func TestRefusals(t *testing.T) {
	url := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := mqtt.Dial(ctx, url, mqtt.Options{ClientID: "x", Username: "admin", Password: "wrong"})
	var re *mqtt.ReasonError
	if !errors.As(err, &re) || !errors.Is(err, mqtt.ErrRefused) || re.Code != wire.BadUserNameOrPassword {
		t.Fatalf("bad password: %v, want CONNACK 0x86", err)
	}
	c, err := mqtt.Dial(ctx, url, mqtt.Options{ClientID: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Subscribe(ctx, mqtt.Subscription{Filter: "a/#/b"}); !errors.Is(err, mqtt.ErrNotAcknowledged) {
		t.Fatalf("bad filter: %v, want a refusal", err)
	}
}
