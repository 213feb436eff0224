package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"tandem/client"
	"tandem/internal/wire/mqtt"
)

// MQTT load (--protocol mqtt). Every connection speaks MQTT (3.1.1 by
// default, which every MQTT broker serves; 5.0 with MQTTVersion 5), with
// the windows, schedules, stamps and histograms of the other protocols:
//
//   - a destination is an MQTT topic: queue://X, topic://X, /queue/X and
//     /topic/X name the address X, whose topic has '/' for '.' (as tandem
//     and Artemis map them); a bare name is a topic as written;
//   - a producer publishes at Config.QoS (default 1 for persistent sends, 0
//     otherwise); a QoS 1 publish is confirmed by PUBACK, a QoS 2 one by
//     PUBCOMP, with up to MaxPending in flight;
//   - a consumer subscribes at the same QoS and acknowledges each message
//     as MQTT requires (PUBACK, or PUBREC then PUBCOMP); Ack, Prefetch and
//     AckEvery do not apply. Its session is persistent (Clean Session 0,
//     client id tandem-perf-<run>-<n>), so QoS 1 and 2 messages are kept
//     durably by the broker as for a durable subscriber, unless
//     MQTTCleanSession is set; persistent sessions are removed after the
//     run by connecting again with Clean Session 1.
//
// Transactions do not exist in MQTT, and a message needs room for a stamp
// (MQTT 3.1.1 has no headers), so TxBatch must be 0 and MessageSize at
// least stampSize.

// mqttConn is one MQTT connection of the load generator, read by one
// goroutine and written under wmu, a burst of packets per flush.
type mqttConn struct {
	nc       net.Conn
	r        *mqtt.Reader
	version  mqtt.Version
	clientID string

	wmu sync.Mutex
	w   *mqtt.Writer
}

// mqttTopic maps a normalized destination (/queue/X, /topic/X) or a bare
// topic to the MQTT topic a run uses.
func mqttTopic(dest string) string {
	for _, p := range []string{"/queue/", "/topic/", "queue://", "topic://"} {
		if len(dest) > len(p) && dest[:len(p)] == p {
			return mqtt.AddressToTopic(dest[len(p):])
		}
	}
	return dest
}

// mqttClientID names connection i of a run; a consumer's session is found
// again by it after the run, to be removed.
func mqttClientID(run string, i int) string { return "tandem-perf-" + run + "-" + strconv.Itoa(i) }

// dialMQTT connects to the first broker of the URL that accepts the
// CONNECT, without keep-alive (a run is busy; pings would only add
// packets to what is measured).
func dialMQTT(ctx context.Context, cfg *Config, clientID string, clean bool) (*mqttConn, error) {
	eps, _, err := client.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	var errs []error
	for _, ep := range eps {
		c, err := dialMQTTEndpoint(ctx, cfg, ep, clientID, clean)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w to %s: %w", ErrConnect, cfg.URL, errors.Join(errs...))
}

func dialMQTTEndpoint(ctx context.Context, cfg *Config, ep client.Endpoint, clientID string, clean bool) (*mqttConn, error) {
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", ep.Addr())
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: %w (is the broker running and listening there?)", ep, err)
		}
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	v := cfg.mqttVersion()
	c := &mqttConn{nc: nc, version: v, clientID: clientID, w: mqtt.NewWriter(nc),
		r: mqtt.NewReader(nc, mqtt.ReaderOptions{Role: mqtt.ClientSide, Version: v})}
	conn := &mqtt.Connect{Version: v, ClientID: clientID, CleanStart: clean}
	if cfg.User != "" {
		conn.HasUsername, conn.Username, conn.HasPassword, conn.Password = true, cfg.User, true, []byte(cfg.Password)
	}
	if v == mqtt.V5 && !clean {
		conn.Properties = mqtt.Properties{mqtt.IntProp(mqtt.PropSessionExpiry, 0xFFFFFFFF)}
	}
	err = c.w.WritePacket(conn)
	if err == nil {
		err = c.w.Flush()
	}
	var p mqtt.Packet
	if err == nil {
		p, err = c.r.ReadPacket()
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: MQTT CONNECT: %w", ep, ctx.Err())
		}
		return nil, fmt.Errorf("%s: MQTT CONNECT: %w", ep, err)
	}
	ack, ok := p.(*mqtt.Connack)
	if !ok || ack.Reason != 0 {
		nc.Close()
		if !ok {
			return nil, fmt.Errorf("%s: MQTT CONNECT answered with %v", ep, p.Type())
		}
		why, _ := ack.Properties.String(mqtt.PropReasonString)
		return nil, fmt.Errorf("%w: %s refused the MQTT CONNECT: %v %s", ErrBroker, ep, ack.Reason, why)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// write encodes p and, with flush, hands the buffer to the kernel.
func (c *mqttConn) write(p mqtt.Packet, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WritePacket(p); err != nil {
		return err
	}
	if !flush && c.w.Buffered() < burstBytes {
		return nil
	}
	return c.w.Flush()
}

func (c *mqttConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

// readDrained reports whether no whole packet is buffered (the smallest
// is two bytes), so the next read may wait for the broker.
func (c *mqttConn) readDrained() bool { return c.r.Buffered() < 2 }

// close sends DISCONNECT, bounded by grace, and closes the socket.
func (c *mqttConn) close(grace time.Duration) {
	c.nc.SetWriteDeadline(time.Now().Add(grace))
	_ = c.write(&mqtt.Disconnect{}, true)
	c.nc.Close()
}

func (c *mqttConn) serverName() string { return "MQTT " + c.version.String() }

func (c *mqttConn) newProducer(r *runner, index int, dests []string) loadProducer {
	p := &mqttProducer{r: r, index: index, c: c, dests: dests, confirmH: newHistogram(), due: map[uint16]time.Duration{}}
	if r.cfg.confirmed() {
		p.window = make(chan struct{}, r.cfg.MaxPending)
	}
	return p
}

func (c *mqttConn) newConsumer(r *runner, index int, dests []string) loadConsumer {
	return &mqttConsumer{r: r, index: index, c: c, dests: dests, subscribed: make(chan struct{}), e2eH: newHistogram()}
}

// mqttProducer publishes on one MQTT connection; its reader goroutine
// takes the acknowledgements, matched by packet identifier (brokers need
// not acknowledge in order).
type mqttProducer struct {
	r     *runner
	index int
	c     *mqttConn
	dests []string

	window chan struct{} // a token per unacknowledged publish; nil at QoS 0

	mu   sync.Mutex
	due  map[uint16]time.Duration // unacknowledged publishes by packet identifier
	next uint16

	confirmH *hdrhistogram.Histogram // owned by the reader goroutine
}

func (p *mqttProducer) lockstepped() bool                    { return false }
func (p *mqttProducer) confirmHist() *hdrhistogram.Histogram { return p.confirmH }

func (p *mqttProducer) unconfirmed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.due)
}

// take returns a free packet identifier and records the publish.
func (p *mqttProducer) take(due time.Duration) uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		p.next++
		if p.next == 0 {
			p.next = 1
		}
		if _, busy := p.due[p.next]; !busy {
			p.due[p.next] = due
			return p.next
		}
	}
}

func (p *mqttProducer) ioError(err error) error {
	if p.r.closing() {
		return nil
	}
	return fmt.Errorf("%w: producer %d: %w", ErrConnectionLost, p.index, err)
}

// send publishes until the run stops sending or the budget is spent.
func (p *mqttProducer) send() error {
	cfg := p.r.cfg
	c := p.c
	sched := newSchedule(cfg.Rate, cfg.Producers, p.index, p.r.now())
	st := newStamper(p.r.payload, p.r.id)
	topics := make([]string, len(p.dests))
	for i, d := range p.dests {
		topics[i] = mqttTopic(d)
	}
	pub := &mqtt.Publish{QoS: cfg.mqttQoS()}
	unflushed := 0
	flush := func() error {
		if unflushed == 0 {
			return nil
		}
		unflushed = 0
		return c.flush()
	}
	defer func() { _ = flush() }()
	for seq := 0; ; seq++ {
		if p.r.stopped() || !p.r.takeBudget() {
			return nil
		}
		due, wait := sched.next(p.r.now())
		if wait > 0 {
			if err := flush(); err != nil {
				return p.ioError(err)
			}
			if !p.r.sleep(wait) {
				p.r.returnBudget()
				return nil
			}
		}
		if p.window != nil {
			select {
			case p.window <- struct{}{}:
			default:
				if err := flush(); err != nil {
					return p.ioError(err)
				}
				select {
				case p.window <- struct{}{}:
				case <-p.r.stop:
					p.r.returnBudget()
					return nil
				}
			}
		}
		if cfg.Rate <= 0 {
			// Without a schedule a message is due once its window has
			// room, as for the other protocols.
			due = p.r.now()
		}
		pub.Topic = topics[seq%len(topics)]
		pub.Payload = st.stamp(due)
		pub.PacketID = 0
		if p.window != nil {
			pub.PacketID = p.take(due)
		}
		if err := c.write(pub, false); err != nil {
			return p.ioError(err)
		}
		p.r.sent.Add(1)
		unflushed++
		if p.window == nil || unflushed >= burstFrames || cfg.Rate > 0 || cfg.MaxPending == 1 {
			if err := flush(); err != nil {
				return p.ioError(err)
			}
		}
	}
}

// read takes the broker's packets until the connection closes: PUBACK
// confirms a QoS 1 publish, PUBREC is answered with PUBREL, PUBCOMP
// confirms a QoS 2 one.
func (p *mqttProducer) read() error {
	c := p.c
	for {
		pk, err := c.r.ReadPacket()
		if err != nil {
			if p.r.closing() || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) && p.r.closing() {
				return nil
			}
			return fmt.Errorf("%w: producer %d: %w", ErrConnectionLost, p.index, err)
		}
		var pid uint16
		var code mqtt.ReasonCode
		switch pk := pk.(type) {
		case *mqtt.Puback:
			pid, code = pk.PacketID, pk.Reason
		case *mqtt.Pubrec:
			if pk.Reason.IsError() {
				pid, code = pk.PacketID, pk.Reason
				break
			}
			if err := c.write(&mqtt.Pubrel{PacketID: pk.PacketID}, c.readDrained()); err != nil {
				return p.ioError(err)
			}
		case *mqtt.Pubcomp:
			pid, code = pk.PacketID, pk.Reason
		case *mqtt.Disconnect:
			why, _ := pk.Properties.String(mqtt.PropReasonString)
			return fmt.Errorf("producer %d: %w: DISCONNECT %v %s", p.index, ErrBroker, pk.Reason, why)
		default:
			continue
		}
		if code.IsError() {
			return fmt.Errorf("producer %d: %w: publish refused with %v", p.index, ErrBroker, code)
		}
		if pid != 0 {
			p.confirm(pid)
		}
		// PUBRELs written while more packets were buffered go out once
		// none is: the sender may have stopped flushing.
		if c.readDrained() {
			if err := c.flush(); err != nil {
				return p.ioError(err)
			}
		}
	}
}

// confirm records the acknowledgement of publish pid.
func (p *mqttProducer) confirm(pid uint16) {
	now := p.r.now()
	p.mu.Lock()
	due, ok := p.due[pid]
	delete(p.due, pid)
	p.mu.Unlock()
	if !ok {
		return
	}
	if due >= p.r.measureFrom() {
		record(p.confirmH, now-due)
	}
	<-p.window
	p.r.confirmed.Add(1)
	p.r.touch(now)
}

// mqttConsumer receives on one MQTT connection.
type mqttConsumer struct {
	r     *runner
	index int
	c     *mqttConn
	dests []string

	subscribed chan struct{} // closed at the SUBACK
	e2eH       *hdrhistogram.Histogram
}

func (k *mqttConsumer) subscribedCh() <-chan struct{}    { return k.subscribed }
func (k *mqttConsumer) e2eHist() *hdrhistogram.Histogram { return k.e2eH }

// finish has nothing to do: MQTT messages are acknowledged as they come.
func (k *mqttConsumer) finish() error { return nil }

// subscribe sends one SUBSCRIBE with every topic; its SUBACK says the
// subscriptions are in.
func (k *mqttConsumer) subscribe() error {
	s := &mqtt.Subscribe{PacketID: 1}
	for _, d := range k.dests {
		s.Subscriptions = append(s.Subscriptions, mqtt.Subscription{Filter: mqttTopic(d), QoS: k.r.cfg.mqttQoS()})
	}
	if err := k.c.write(s, true); err != nil {
		return fmt.Errorf("%w: consumer %d: subscribe: %w", ErrConnectionLost, k.index, err)
	}
	return nil
}

// read takes messages until the connection closes, acknowledging each as
// its QoS requires; acknowledgements go to the kernel when no whole
// packet is left to read, one write per burst.
func (k *mqttConsumer) read() error {
	c := k.c
	run := k.r.id
	ack := func(p mqtt.Packet) error {
		k.r.acks.Add(1)
		return c.write(p, c.readDrained())
	}
	for {
		pk, err := c.r.ReadPacket()
		if err != nil {
			if k.r.closing() || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) && k.r.closing() {
				return nil
			}
			return fmt.Errorf("%w: consumer %d: %w", ErrConnectionLost, k.index, err)
		}
		switch pk := pk.(type) {
		case *mqtt.Publish:
			if due, mine, found := readStamp(pk.Payload, run); mine {
				now := k.r.now()
				if found && due >= k.r.measureFrom() {
					record(k.e2eH, now-due)
				}
				k.r.received.Add(1)
				k.r.touch(now)
			}
			switch pk.QoS {
			case mqtt.QoS1:
				err = ack(&mqtt.Puback{PacketID: pk.PacketID})
			case mqtt.QoS2:
				err = ack(&mqtt.Pubrec{PacketID: pk.PacketID})
			default:
				if c.readDrained() {
					err = c.flush()
				}
			}
		case *mqtt.Pubrel:
			err = c.write(&mqtt.Pubcomp{PacketID: pk.PacketID}, c.readDrained())
		case *mqtt.Suback:
			for _, code := range pk.Reasons {
				if code.IsError() {
					return fmt.Errorf("consumer %d: %w: subscription refused with %v", k.index, ErrBroker, code)
				}
			}
			close(k.subscribed)
		case *mqtt.Disconnect:
			why, _ := pk.Properties.String(mqtt.PropReasonString)
			return fmt.Errorf("consumer %d: %w: DISCONNECT %v %s", k.index, ErrBroker, pk.Reason, why)
		}
		if err != nil {
			if k.r.closing() {
				return nil
			}
			return fmt.Errorf("%w: consumer %d: acknowledge: %w", ErrConnectionLost, k.index, err)
		}
	}
}

// removeMQTTSessions connects the client ids of the run's consumers again
// with Clean Session 1 and disconnects, so that a run leaves no persistent
// session (and no subscription queue) behind.
func removeMQTTSessions(ctx context.Context, cfg *Config, run string, consumers int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, dialParallelism)
	for j := range consumers {
		id := mqttClientID(run, j)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if c, err := dialMQTT(ctx, cfg, id, true); err == nil {
				c.close(time.Second)
			}
		})
	}
	wg.Wait()
}

// WaitReadyMQTT is WaitReady for an MQTT broker: it returns the moment a
// CONNECT (3.1.1) was accepted.
func WaitReadyMQTT(ctx context.Context, url, user, password string, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg := &Config{URL: url, User: user, Password: password, ConnectTimeout: time.Second}
	id := "tandem-perf-ready-" + newRunID()
	for {
		c, err := dialMQTT(ctx, cfg, id, true)
		if err == nil {
			at := time.Now()
			c.close(time.Second)
			return at, nil
		}
		t := time.NewTimer(probeInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, fmt.Errorf("%s not ready within %v: %w", url, timeout, err)
		case <-t.C:
		}
	}
}
