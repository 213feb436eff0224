package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tandem/client"
	ow "tandem/internal/wire/openwire"
)

// The OpenWire load (--protocol openwire): the same producers and
// consumers as over STOMP, speaking the protocol of ActiveMQ Classic's JMS
// client on tandem's codec, so tandem and ActiveMQ Classic can be measured
// with their native client protocol. A persistent send outside a
// transaction asks for a response, as the JMS client's does, and the
// response is its confirmation; in a transaction the COMMIT's response
// confirms the batch. Consumers always acknowledge, as a JMS consumer
// does: with --ack auto a standard ack per message (a JMS
// AUTO_ACKNOWLEDGE session's), with client-individual an individual ack
// per message, with client a standard ack of the range every --ack-every
// messages. Acks are written in bursts, when no whole frame waits to be
// read.

// owConn is one OpenWire connection of the load generator. One goroutine
// reads; writes are serialised by wmu and handed to the kernel in bursts.
type owConn struct {
	nc     net.Conn
	r      *ow.Reader
	server string
	connID string

	wmu     sync.Mutex
	w       *ow.Writer
	nextCmd int32
}

// dialOpenWire connects to the first broker of the URL that completes an
// OpenWire handshake (wire format, ConnectionInfo, SessionInfo).
func dialOpenWire(ctx context.Context, url string, l login, timeout time.Duration, local net.Addr, n int) (*owConn, error) {
	eps, _, err := client.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	var errs []error
	for _, ep := range eps {
		c, err := dialOpenWireEndpoint(ctx, ep, l, timeout, local, n)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w to %s: %w", ErrConnect, url, errors.Join(errs...))
}

func dialOpenWireEndpoint(ctx context.Context, ep client.Endpoint, l login, timeout time.Duration, local net.Addr, n int) (*owConn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{LocalAddr: local}
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
	c := &owConn{nc: nc, r: ow.NewReader(nc, ow.ReaderOptions{Reuse: true}), w: ow.NewWriter(nc),
		connID: fmt.Sprintf("ID:tandem-perf-%s-%d:1", newRunID(), n)}
	if err := c.handshake(l); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: OpenWire handshake: %w", ep, ctx.Err())
		}
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// handshake agrees the wire format and opens the connection and its one
// session. The inactivity monitor is turned off: a run is short and busy.
func (c *owConn) handshake(l login) error {
	f := ow.DefaultClientWireFormat()
	f.MaxInactivityDuration, f.MaxInactivityDurationInitialDelay = 0, 0
	info, err := ow.NewWireFormatInfo(f)
	if err != nil {
		return err
	}
	if err := c.w.WriteCommand(info); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	first, err := c.r.ReadCommand()
	if err != nil {
		return fmt.Errorf("OpenWire handshake: %w", err)
	}
	theirs, ok := first.(*ow.WireFormatInfo)
	if !ok {
		return fmt.Errorf("OpenWire handshake: expected a WireFormatInfo, got a %v", first.DataType())
	}
	tf, err := theirs.WireFormat()
	if err != nil {
		return err
	}
	agreed, err := ow.Negotiate(f, tf)
	if err != nil {
		return fmt.Errorf("OpenWire handshake: %w", err)
	}
	c.w.SetMaxFrameSize(agreed.MaxFrameSize)
	for _, cmd := range []ow.Command{
		&ow.ConnectionInfo{ConnectionID: &ow.ConnectionID{Value: c.connID}, ClientID: c.connID, UserName: l.user, Password: l.password},
		&ow.SessionInfo{SessionID: &ow.SessionID{ConnectionID: c.connID, Value: 1}},
	} {
		if err := c.request(cmd); err != nil {
			return err
		}
	}
	return nil
}

// request sends cmd and reads until its answer (setup only).
func (c *owConn) request(cmd ow.Command) error {
	id, err := c.write(cmd, true, true)
	if err != nil {
		return err
	}
	for {
		ds, err := c.r.ReadCommand()
		if err != nil {
			return fmt.Errorf("OpenWire: waiting for the answer to a %v: %w", cmd.DataType(), err)
		}
		switch x := ds.(type) {
		case *ow.Response:
			if x.CorrelationID == id {
				return nil
			}
		case *ow.ExceptionResponse:
			if x.CorrelationID == id {
				return owBrokerError(x.Exception)
			}
		case *ow.BrokerInfo:
			if x.BrokerName != "" {
				c.server = x.BrokerName
			}
		}
	}
}

// write encodes cmd with the next command ID, asking for a response when
// rr is set, and flushes when flush is set. It returns the command ID.
func (c *owConn) write(cmd ow.Command, rr, flush bool) (int32, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nextCmd++
	b := cmd.Base()
	b.CommandID, b.ResponseRequired = c.nextCmd, rr
	if err := c.w.WriteCommand(cmd); err != nil {
		return 0, err
	}
	if !flush {
		return b.CommandID, nil
	}
	return b.CommandID, c.w.Flush()
}

func (c *owConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

func (c *owConn) buffered() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Buffered()
}

// readDrained reports whether no whole frame waits in the read buffer
// (the smallest is six bytes after its size).
func (c *owConn) readDrained() bool { return c.r.Buffered() < 10 }

// close ends the connection with a ShutdownInfo, bounded by grace.
func (c *owConn) close(grace time.Duration) {
	c.nc.SetWriteDeadline(time.Now().Add(grace))
	_, _ = c.write(&ow.ShutdownInfo{}, false, true)
	c.nc.Close()
}

func (c *owConn) serverName() string { return c.server }

func (c *owConn) newProducer(r *runner, index int, dests []string) loadProducer {
	return newOwProducer(r, index, c, dests)
}

func (c *owConn) newConsumer(r *runner, index int, dests []string) loadConsumer {
	return newOwConsumer(r, index, c, dests)
}

// owBrokerError quotes the exception the broker answered with.
func owBrokerError(t *ow.Throwable) error {
	if t == nil {
		return fmt.Errorf("%w: (no exception)", ErrBroker)
	}
	return fmt.Errorf("%w: %s: %s", ErrBroker, t.Class, t.Message)
}

// owDestination turns a destination normalised to STOMP's form
// (/queue/X, /topic/X) into an OpenWire one.
func owDestination(d string) *ow.Destination {
	for _, p := range []struct {
		prefix string
		kind   ow.DataType
	}{{"/queue/", ow.TypeQueue}, {"/topic/", ow.TypeTopic}, {"/temp-queue/", ow.TypeTempQueue}, {"/temp-topic/", ow.TypeTempTopic}} {
		if name, ok := strings.CutPrefix(d, p.prefix); ok {
			return &ow.Destination{Kind: p.kind, Name: name}
		}
	}
	return ow.NewQueue(d)
}

// owProducer is a producer speaking OpenWire. It shares the confirmation
// bookkeeping of the STOMP producer (window, pending sends, histogram).
type owProducer struct {
	*producer
	oc    *owConn
	odest []*ow.Destination

	// cmds maps the command IDs of sends and commits that ask for a
	// response to the send they confirm up to, in order.
	cmdMu sync.Mutex
	cmds  []cmdSeq
}

type cmdSeq struct {
	cmd int32
	seq uint64
}

func newOwProducer(r *runner, index int, c *owConn, dests []string) *owProducer {
	p := &owProducer{producer: newProducer(r, index, nil, dests), oc: c}
	for _, d := range dests {
		p.odest = append(p.odest, owDestination(d))
	}
	return p
}

// send mirrors producer.send in OpenWire.
func (p *owProducer) send() error {
	cfg := p.r.cfg
	pid := &ow.ProducerID{ConnectionID: p.oc.connID, SessionID: 1, Value: int64(p.index) + 1}
	if _, err := p.oc.write(&ow.ProducerInfo{ProducerID: pid}, false, false); err != nil {
		return p.ioError(err)
	}
	sched := newSchedule(cfg.Rate, cfg.Producers, p.index, p.r.now())
	run := p.r.id
	st := newStamper(p.r.payload, run)
	// One message and id serve every send: each is encoded as it is
	// written.
	mid := &ow.MessageID{ProducerID: pid}
	m := &ow.Message{Kind: ow.TypeBytesMessage, ProducerID: pid, Persistent: cfg.Persistent, Priority: 4,
		Content: p.r.payload, MessageID: mid}
	var (
		seq     uint64
		inTx    int
		txID    *ow.LocalTransactionID
		txCount int64
		unflush int
		perSend = cfg.Persistent && cfg.TxBatch == 0
	)
	flush := func() error {
		if unflush == 0 {
			return nil
		}
		unflush = 0
		return p.oc.flush()
	}
	defer func() { _ = flush() }()
	for {
		if p.r.stopped() || !p.r.takeBudget() {
			break
		}
		due, wait := sched.next(p.r.now())
		if wait > 0 {
			if err := flush(); err != nil {
				return p.ioError(err)
			}
			if !p.r.sleep(wait) {
				p.r.returnBudget()
				break
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
					return p.commitOpen(txID, inTx, seq)
				}
			}
		}
		if cfg.Rate <= 0 {
			due = p.r.now()
		}
		if cfg.TxBatch > 0 && inTx == 0 {
			txCount++
			txID = &ow.LocalTransactionID{Value: txCount, ConnectionID: &ow.ConnectionID{Value: p.oc.connID}}
			if _, err := p.oc.write(&ow.TransactionInfo{ConnectionID: &ow.ConnectionID{Value: p.oc.connID}, TransactionID: txID,
				Type: ow.TransactionBegin}, false, false); err != nil {
				return p.ioError(err)
			}
		}
		seq++
		m.Destination = p.odest[int(seq)%len(p.odest)]
		mid.ProducerSequenceID = int64(seq)
		m.TransactionID = nil
		if txID != nil && cfg.TxBatch > 0 {
			m.TransactionID = txID
		}
		m.Timestamp = time.Now().UnixMilli()
		if st.body != nil {
			m.Content = st.stamp(due)
		} else {
			props := ow.NewMap()
			props.Set(hdrRun, ow.String(run))
			props.Set(hdrDue, ow.String(strconv.FormatInt(int64(due), 10)))
			if err := m.SetProperties(props); err != nil {
				return err
			}
		}
		if p.window != nil {
			p.mu.Lock()
			p.pending = append(p.pending, pendingSend{seq: seq, due: due})
			p.mu.Unlock()
		}
		// The command ID is recorded under cmdMu before the write, so the
		// reader never sees a response to an ID it does not know.
		p.cmdMu.Lock()
		id, err := p.oc.write(m, perSend, false)
		if err == nil && perSend {
			p.cmds = append(p.cmds, cmdSeq{cmd: id, seq: seq})
		}
		p.cmdMu.Unlock()
		if err != nil {
			return p.ioError(err)
		}
		p.r.sent.Add(1)
		unflush++
		if p.lockstep {
			if err := flush(); err != nil {
				return p.ioError(err)
			}
			if err := p.awaitResponse(seq); err != nil {
				if errors.Is(err, errClosing) {
					return nil
				}
				return err
			}
			continue
		}
		if cfg.TxBatch > 0 {
			inTx++
			if inTx == cfg.TxBatch {
				if err := p.commit(txID, seq, false); err != nil {
					return p.ioError(err)
				}
				inTx = 0
			}
		}
		if unflush >= burstFrames || p.oc.buffered() >= burstBytes || cfg.Rate > 0 {
			if err := flush(); err != nil {
				return p.ioError(err)
			}
		}
	}
	return p.commitOpen(txID, inTx, seq)
}

// commit sends the COMMIT of txID, which confirms the sends up to seq.
func (p *owProducer) commit(txID *ow.LocalTransactionID, seq uint64, flush bool) error {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	id, err := p.oc.write(&ow.TransactionInfo{ConnectionID: &ow.ConnectionID{Value: p.oc.connID}, TransactionID: txID,
		Type: ow.TransactionCommitOnePhase}, true, flush)
	if err == nil {
		p.cmds = append(p.cmds, cmdSeq{cmd: id, seq: seq})
	}
	return err
}

func (p *owProducer) commitOpen(txID *ow.LocalTransactionID, inTx int, seq uint64) error {
	if inTx == 0 {
		return nil
	}
	if err := p.commit(txID, seq, true); err != nil {
		return p.ioError(err)
	}
	return nil
}

// read takes the broker's answers until the connection closes.
func (p *owProducer) read() error {
	for {
		if _, err := p.readOne(); err != nil {
			if errors.Is(err, errClosing) {
				return nil
			}
			return err
		}
	}
}

// awaitResponse reads until the response confirming send seq (lockstep).
func (p *owProducer) awaitResponse(seq uint64) error {
	for {
		got, err := p.readOne()
		if err != nil {
			return err
		}
		if got >= seq {
			return nil
		}
	}
}

// readOne reads one command; confirmed is the send a response confirmed
// up to, or zero.
func (p *owProducer) readOne() (confirmed uint64, err error) {
	ds, err := p.oc.r.ReadCommand()
	if err != nil {
		if errors.Is(err, ow.ErrMalformed) || errors.Is(err, ow.ErrUnsupportedType) {
			return 0, nil
		}
		if p.r.closing() || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) && p.r.closing() {
			return 0, errClosing
		}
		return 0, fmt.Errorf("%w: producer %d: %w", ErrConnectionLost, p.index, err)
	}
	switch x := ds.(type) {
	case *ow.Response:
		return p.answered(x.CorrelationID), nil
	case *ow.ExceptionResponse:
		return 0, fmt.Errorf("producer %d: %w", p.index, owBrokerError(x.Exception))
	case *ow.ConnectionError:
		return 0, fmt.Errorf("producer %d: %w", p.index, owBrokerError(x.Exception))
	}
	return 0, nil
}

// answered confirms the sends a response to command id covers.
func (p *owProducer) answered(id int32) uint64 {
	p.cmdMu.Lock()
	var seq uint64
	n := 0
	for n < len(p.cmds) && p.cmds[n].cmd <= id {
		seq = p.cmds[n].seq
		n++
	}
	p.cmds = append(p.cmds[:0], p.cmds[n:]...)
	p.cmdMu.Unlock()
	if seq > 0 {
		p.confirm(seq)
	}
	return seq
}

// owConsumer is a consumer speaking OpenWire. Its connection's reader
// reuses one dispatch for every message (ow.ReaderOptions.Reuse), so what
// it keeps of a dispatch past the next read is copied.
type owConsumer struct {
	*consumer
	oc  *owConn
	ids []*ow.ConsumerID
	// lastCmd is the command ID of the last ConsumerInfo, whose response
	// says every subscription is in.
	lastCmd int32
	// held is, per subscription, the range of messages not acknowledged
	// yet (AckClient with AckEvery), in copies of their ids.
	held []heldRange
	// ack is the ack written for each message by the reading goroutine,
	// which encodes it before it reads the next dispatch.
	ack ow.MessageAck
}

// heldRange is a range of messages of one subscription not acknowledged
// yet: owned copies of the ids and destination, which the reader's next
// dispatch would overwrite.
type heldRange struct {
	count             int
	dest              ow.Destination
	first, last       ow.MessageID
	firstPID, lastPID ow.ProducerID
}

// setID makes *dst an owned copy of id, with pid holding its producer.
func setID(dst *ow.MessageID, pid *ow.ProducerID, id *ow.MessageID) {
	*dst = *id
	if id.ProducerID != nil {
		*pid = *id.ProducerID
		dst.ProducerID = pid
	}
}

func newOwConsumer(r *runner, index int, c *owConn, dests []string) *owConsumer {
	k := &owConsumer{consumer: newConsumer(r, index, nil, dests), oc: c}
	k.held = make([]heldRange, len(dests))
	return k
}

func (k *owConsumer) subscribe() error {
	prefetch := int32(k.r.cfg.Prefetch)
	if prefetch <= 0 {
		prefetch = 1000 // the JMS client's default for queues
	}
	for i, d := range k.dests {
		id := &ow.ConsumerID{ConnectionID: k.oc.connID, SessionID: 1, Value: int64(i) + 1}
		k.ids = append(k.ids, id)
		last := i == len(k.dests)-1
		// The reader may see the response before write returns: it looks
		// at lastCmd under mu, which is held until lastCmd is set.
		k.mu.Lock()
		cmd, err := k.oc.write(&ow.ConsumerInfo{ConsumerID: id, Destination: owDestination(d), PrefetchSize: prefetch,
			DispatchAsync: true}, last, last)
		if last {
			k.lastCmd = cmd
		}
		k.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%w: consumer %d: subscribe: %w", ErrConnectionLost, k.index, err)
		}
	}
	return nil
}

// read takes messages until the connection closes, acknowledging them.
func (k *owConsumer) read() error {
	run := k.r.id
	for {
		ds, err := k.oc.r.ReadCommand()
		if err != nil {
			if errors.Is(err, ow.ErrMalformed) || errors.Is(err, ow.ErrUnsupportedType) {
				continue
			}
			if k.r.closing() || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) && k.r.closing() {
				return nil
			}
			return fmt.Errorf("%w: consumer %d: %w", ErrConnectionLost, k.index, err)
		}
		switch x := ds.(type) {
		case *ow.MessageDispatch:
			if x.Message == nil {
				continue
			}
			due, mine, found := readStamp(x.Message.Content, run)
			if !found {
				if p, err := x.Message.Properties(); err == nil {
					v, _ := p.Get(hdrRun)
					mine = v.String() == run
					d, _ := p.Get(hdrDue)
					due, found = headerDue(d.String())
				}
			}
			if mine {
				now := k.r.now()
				if found && due >= k.r.measureFrom() {
					record(k.e2eH, now-due)
				}
				k.r.received.Add(1)
				k.r.touch(now)
			}
			if err := k.acknowledge(x); err != nil {
				if k.r.closing() {
					return nil
				}
				return fmt.Errorf("%w: consumer %d: ack: %w", ErrConnectionLost, k.index, err)
			}
		case *ow.Response:
			k.mu.Lock()
			done := x.CorrelationID == k.lastCmd
			k.mu.Unlock()
			if done {
				close(k.subscribed)
			}
		case *ow.ExceptionResponse:
			return fmt.Errorf("consumer %d: %w", k.index, owBrokerError(x.Exception))
		case *ow.ConnectionError:
			return fmt.Errorf("consumer %d: %w", k.index, owBrokerError(x.Exception))
		}
	}
}

// sub returns the index of a dispatch's subscription.
func (k *owConsumer) sub(md *ow.MessageDispatch) int {
	if md.ConsumerID != nil {
		if i := int(md.ConsumerID.Value) - 1; i >= 0 && i < len(k.ids) {
			return i
		}
	}
	return 0
}

// acknowledge acks md as the run's mode says, writing acks out when no
// whole frame waits to be read. md is the reader's reused dispatch: the ack
// written now may point into it, a range held for later may not.
func (k *owConsumer) acknowledge(md *ow.MessageDispatch) error {
	i := k.sub(md)
	id := md.Message.MessageID
	k.ack = ow.MessageAck{ConsumerID: k.ids[i], Destination: md.Destination, LastMessageID: id, FirstMessageID: id,
		MessageCount: 1}
	ack := &k.ack
	switch k.r.cfg.Ack {
	case AckClientIndividual:
		ack.AckType = ow.AckIndividual
	case AckClient:
		ack.AckType = ow.AckStandard
		if k.every > 1 {
			k.mu.Lock()
			h := &k.held[i]
			if h.count == 0 && id != nil {
				setID(&h.first, &h.firstPID, id)
			}
			h.count++
			if h.count < k.every {
				if id != nil {
					setID(&h.last, &h.lastPID, id)
				}
				if md.Destination != nil {
					h.dest = *md.Destination
				}
				k.mu.Unlock()
				return k.flushIfIdle()
			}
			// The first id is held; its copy is encoded under mu, before
			// the next message could change it.
			ack.FirstMessageID, ack.MessageCount = &h.first, int32(h.count)
			h.count = 0
			k.r.acks.Add(1)
			_, err := k.oc.write(ack, false, k.oc.readDrained())
			k.mu.Unlock()
			return err
		}
	default:
		ack.AckType = ow.AckStandard
	}
	k.r.acks.Add(1)
	_, err := k.oc.write(ack, false, k.oc.readDrained())
	return err
}

func (k *owConsumer) flushIfIdle() error {
	if !k.oc.readDrained() {
		return nil
	}
	return k.oc.flush()
}

// finish acknowledges the messages held back.
func (k *owConsumer) finish() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for i := range k.held {
		h := &k.held[i]
		if h.count == 0 {
			continue
		}
		ack := &ow.MessageAck{ConsumerID: k.ids[i], Destination: &h.dest, AckType: ow.AckStandard,
			FirstMessageID: &h.first, LastMessageID: &h.last, MessageCount: int32(h.count)}
		if _, err := k.oc.write(ack, false, false); err != nil {
			return err
		}
		h.count = 0
		n++
	}
	k.r.acks.Add(int64(n))
	if n == 0 {
		return nil
	}
	return k.oc.flush()
}
