package perf

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	"tandem/internal/protocol"
	mqttproto "tandem/internal/protocol/mqtt"
	"tandem/internal/store/memstore"
)

type anyAuth struct{}

func (anyAuth) Authenticate(_, login, _ string) (protocol.Identity, error) {
	return protocol.Identity{User: login}, nil
}

// startMQTT runs tandem's broker with its MQTT adapter, returning its URL
// and the broker.
func startMQTT(t *testing.T) (string, *broker.Broker) {
	t.Helper()
	b, err := broker.New(broker.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := mqttproto.NewServer(mqttproto.Options{Env: protocol.Env{Broker: b, Auth: anyAuth{}}, Context: ctx})
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
	return "tcp://" + ln.Addr().String(), b
}

func TestMQTTRunAtEveryQoS(t *testing.T) {
	url, b := startMQTT(t)
	for _, tc := range []struct {
		name       string
		persistent bool
		qos        int
		clean      bool
		version    int
	}{
		{"QoS 0", false, 0, true, 4},
		{"QoS 1 persistent sessions", true, 0, false, 4},
		{"QoS 2 MQTT 5", true, 2, false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rep, err := Run(ctx, Config{URL: url, Protocol: ProtocolMQTT, MQTTVersion: tc.version, QoS: tc.qos,
				MQTTCleanSession: tc.clean, Destinations: ExpandDestinations("topic://perf.mqtt", 2),
				Producers: 2, Consumers: 2, MessageSize: 128, Persistent: tc.persistent, MaxPending: 16,
				MessageCount: 2000, IdleEnd: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if rep.TotalSent != 2000 || rep.TotalReceived != 2000 {
				t.Fatalf("sent %d, received %d; want 2000 each", rep.TotalSent, rep.TotalReceived)
			}
			if tc.persistent && (rep.TotalConfirmed != 2000 || rep.SendToConfirm == nil) {
				t.Fatalf("confirmed %d, latency %+v", rep.TotalConfirmed, rep.SendToConfirm)
			}
			if rep.EndToEnd == nil || rep.Protocol != ProtocolMQTT {
				t.Fatalf("report %+v", rep)
			}
		})
	}
	// The persistent sessions went with the run.
	for _, q := range b.Queues() {
		if len(q.Name) > 12 && q.Name[:12] == "tandem-perf-" {
			t.Errorf("queue %s of a perf session outlived the run", q.Name)
		}
	}
	if _, err := WaitReadyMQTT(context.Background(), url, "", "", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestMQTTConfigProblems(t *testing.T) {
	base := Config{URL: "tcp://h:1", Destinations: []string{"t"}, Producers: 1, MaxPending: 1, MessageCount: 1,
		MessageSize: 100, Persistent: true}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Protocol = "smtp" }, `--protocol "smtp"`},
		{func(c *Config) { c.QoS = 1 }, "are for --protocol mqtt"},
		{func(c *Config) { c.Protocol, c.TxBatch, c.MaxPending = ProtocolMQTT, 2, 2 }, "MQTT has no transactions"},
		{func(c *Config) { c.Protocol, c.MessageSize = ProtocolMQTT, 10 }, "at least 41 bytes"},
		{func(c *Config) { c.Protocol, c.QoS, c.Persistent = ProtocolMQTT, 2, false }, "non-persistent sends are QoS 0"},
		{func(c *Config) { c.Protocol, c.MQTTVersion = ProtocolMQTT, 3 }, "--mqtt-version 3"},
	} {
		c := base
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrBadConfig) || !contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
