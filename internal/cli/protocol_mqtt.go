package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"tandem/client"
	mqttc "tandem/client/mqtt"
	"tandem/internal/tlsconfig"
	"tandem/internal/wire/mqtt"
)

// dialMQTT connects with tandem's MQTT client (MQTT 5) to the first broker
// of the URL that answers. MQTT has no failover: a failover URL's brokers
// are only tried in turn at the start.
func dialMQTT(ctx context.Context, f *connFlags, ev connEvents) (msgConn, error) {
	eps, _, err := client.ParseURL(f.url)
	if err != nil {
		return nil, err
	}
	m := &mqttConn{flags: f, ev: ev, eps: eps}
	if f.durable && f.clientID == "" {
		return nil, errors.New("a durable MQTT subscription needs --clientID: the session is the client id's")
	}
	if err := m.connect(ctx, !f.durable); err != nil {
		return nil, err
	}
	ev.connected(m.Broker())
	return m, nil
}

// mqttConn is a msgConn over tandem's MQTT client.
type mqttConn struct {
	flags *connFlags
	ev    connEvents
	eps   []client.Endpoint
	c     *mqttc.Client
	ep    client.Endpoint
	ids   atomic.Uint64

	// Sends not yet acknowledged (with --max-pending).
	mu      sync.Mutex
	pending sync.WaitGroup
	sendErr error
}

// connect dials the URL's brokers in order. A clean session is the
// default; a durable subscription's consumer continues the client id's
// session and keeps it for ever.
func (m *mqttConn) connect(ctx context.Context, clean bool) error {
	id := m.flags.clientID
	if id == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		id = "tandem-cli-" + hex.EncodeToString(b[:])
	}
	opts := mqttc.Options{ClientID: id, Username: m.flags.user, Password: m.flags.password, Version: mqttc.V5,
		CleanStart: clean}
	if !clean {
		opts.SessionExpiry = 0xFFFFFFFF // kept until the client unsubscribes or starts clean
	}
	var errs []error
	for _, ep := range m.eps {
		o := opts
		ts, err := tlsconfig.Parse(ep.Params)
		if err != nil {
			return err
		}
		scheme := "tcp"
		if ep.Scheme == "ssl" || ep.Scheme == "tls" || ts.Enabled {
			scheme = "ssl"
			if o.TLS, err = tlsconfig.Client(ts, ep.Host); err != nil {
				return err
			}
		}
		c, err := mqttc.Dial(ctx, scheme+"://"+ep.Addr(), o)
		if err == nil {
			m.c, m.ep = c, ep
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

func (m *mqttConn) Broker() string { return m.ep.String() + " (MQTT 5)" }

func (m *mqttConn) Close() error { return m.c.Close() }

// mqttTopic turns a destination as the CLI takes it into an MQTT topic:
// queue://X, topic://X, /queue/X and /topic/X name the address X, whose
// topic replaces '.' with '/' (docs/mqtt.md); anything else is a topic as
// written (sensors/kitchen). MQTT has no queues: a publish reaches an
// anycast queue only when that queue exists, and a subscriber to it
// competes with its other consumers.
func mqttTopic(dest string) string {
	for _, p := range []string{"queue://", "topic://", "/queue/", "/topic/"} {
		if strings.HasPrefix(dest, p) {
			return mqtt.AddressToTopic(dest[len(p):])
		}
	}
	return dest
}

// message builds the PUBLISH of a send: persistent messages go at QoS 1,
// non-persistent ones at QoS 0.
func mqttMessage(dest string, body []byte, o sendOptions) *mqttc.Message {
	msg := &mqttc.Message{Topic: mqttTopic(dest), Payload: body, QoS: 1}
	if o.nonPersistent {
		msg.QoS = 0
	}
	if o.text {
		msg.Properties = append(msg.Properties, mqtt.IntProp(mqtt.PropPayloadFormat, 1))
	}
	if o.ttl > 0 {
		msg.Properties = append(msg.Properties, mqtt.IntProp(mqtt.PropMessageExpiry, uint32(max((o.ttl.Milliseconds()+999)/1000, 1))))
	}
	if o.group != "" {
		msg.Properties = append(msg.Properties, mqtt.UserProp("JMSXGroupID", o.group))
	}
	return msg
}

func (m *mqttConn) Send(ctx context.Context, dest string, body []byte, o sendOptions) error {
	msg := mqttMessage(dest, body, o)
	if m.flags.window <= 1 {
		return m.c.Publish(ctx, msg)
	}
	if err := m.takeErr(); err != nil {
		return err
	}
	m.pending.Add(1)
	err := m.c.PublishAsync(ctx, msg, func(err error) {
		if err != nil {
			m.mu.Lock()
			if m.sendErr == nil {
				m.sendErr = err
			}
			m.mu.Unlock()
		}
		m.pending.Done()
	})
	if err != nil {
		m.pending.Done()
	}
	return err
}

func (m *mqttConn) takeErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.sendErr
	m.sendErr = nil
	return err
}

// Flush waits for the acknowledgements of every send in flight.
func (m *mqttConn) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		m.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
		return m.takeErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errMQTTNoTx = errors.New("MQTT has no transactions; leave out --commit-interval (or --txBatchSize) with --protocol mqtt")

func (m *mqttConn) Begin(context.Context) (msgTx, error) { return nil, errMQTTNoTx }

// Subscribe subscribes at QoS 1. A durable subscription's connection
// continued the client id's session (Clean Start 0, dialMQTT), which keeps
// the subscription's queue, <client id>.<address>, while the consumer is
// away.
func (m *mqttConn) Subscribe(ctx context.Context, dest string, o subscribeOptions) (msgSub, error) {
	if o.selector != "" {
		return nil, errors.New("MQTT has no selectors; leave out --selector with --protocol mqtt")
	}
	if _, err := m.c.Subscribe(ctx, mqttc.Subscription{Filter: mqttTopic(dest), QoS: 1}); err != nil {
		return nil, err
	}
	return mqttSub{m}, nil
}

func (m *mqttConn) Browse(context.Context, string, string, func(*msgMessage) error) error {
	return errors.New("MQTT cannot browse a queue; use --protocol stomp")
}

type mqttSub struct{ m *mqttConn }

func (s mqttSub) Receive(ctx context.Context) (*msgMessage, error) {
	msg, err := s.m.c.Receive(ctx)
	if err != nil {
		return nil, err
	}
	return &msgMessage{ID: fmt.Sprintf("mqtt:%d", s.m.ids.Add(1)), Body: msg.Payload, Size: int64(len(msg.Payload)),
		ack: func(context.Context) error { return msg.Ack() }, native: msg}, nil
}
