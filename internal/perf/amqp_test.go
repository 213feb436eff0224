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
	amqpproto "tandem/internal/protocol/amqp"
	"tandem/internal/store/memstore"
)

type amqpAuth struct{}

func (amqpAuth) Authenticate(_, user, _ string) (protocol.Identity, error) {
	return protocol.Identity{User: user}, nil
}

// startAMQPBroker runs tandem's broker with its AMQP adapter in-process.
func startAMQPBroker(t *testing.T) (string, *broker.Broker) {
	t.Helper()
	b, err := broker.New(broker.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{
		amqpproto.NewServer(amqpproto.Options{Env: protocol.Env{Broker: b, Auth: amqpAuth{}}})}})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
		b.Close()
	})
	return "tcp://" + ln.Addr().String(), b
}

func TestRunAMQP(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"persistent, one at a time", func(c *Config) {}},
		{"persistent, windowed, 3 producers, acknowledged", func(c *Config) {
			c.Producers, c.Consumers, c.MaxPending, c.Ack = 3, 2, 16, AckClientIndividual
		}},
		{"non-persistent", func(c *Config) { c.Persistent = false }},
		{"bodies too short for a stamp, many destinations", func(c *Config) {
			c.MessageSize, c.Destinations, c.Consumers = stampSize-1, ExpandDestinations("queue://T", 3), 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, b := startAMQPBroker(t)
			cfg := baseConfig(url)
			cfg.Protocol, cfg.MessageCount = ProtocolAMQP, 300
			tt.mutate(&cfg)
			rep := runOK(t, cfg)
			if rep.TotalSent != 300 || rep.TotalReceived != 300 {
				t.Fatalf("sent %d, received %d, want 300 each", rep.TotalSent, rep.TotalReceived)
			}
			if cfg.Persistent && (rep.TotalConfirmed != 300 || rep.SendToConfirm == nil) {
				t.Fatalf("confirmed %d, latency %v", rep.TotalConfirmed, rep.SendToConfirm)
			}
			if rep.EndToEnd == nil || rep.Protocol != ProtocolAMQP || rep.Broker == "" {
				t.Fatalf("report %+v", rep)
			}
			for _, q := range b.Queues() {
				if q.Messages != 0 || q.Delivering != 0 {
					t.Errorf("queue %s holds %d messages, %d being delivered, after the run", q.Name, q.Messages, q.Delivering)
				}
			}
		})
	}
}

func TestRunAMQPRefusesWhatItCannotMeasure(t *testing.T) {
	cfg := baseConfig("tcp://127.0.0.1:1")
	cfg.Protocol, cfg.MessageCount, cfg.TxBatch = ProtocolAMQP, 10, 5
	cfg.MaxPending = 5
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("--tx with AMQP: %v, want ErrBadConfig", err)
	}
	cfg.TxBatch, cfg.Protocol = 0, "smtp"
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("an unknown protocol: %v, want ErrBadConfig", err)
	}
}
