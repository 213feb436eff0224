package openwire

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"tandem/internal/broker"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/openwire"
)

// maxLoginFailures bounds the refused ConnectionInfos one connection may
// send before it is closed.
const maxLoginFailures = 3

// proposal is the WireFormatInfo the broker proposes: loose, uncached
// encoding without stack traces (the only encoding the codec speaks), the
// reader's frame limit and the configured inactivity duration.
func (s *Server) proposal() wire.WireFormat {
	f := wire.DefaultBrokerWireFormat(int64(s.opts.MaxFrameSize))
	f.MaxInactivityDuration = s.opts.MaxInactivity.Milliseconds()
	f.MaxInactivityDurationInitialDelay = min(f.MaxInactivityDurationInitialDelay, f.MaxInactivityDuration)
	return f
}

// handshake reads the client's WireFormatInfo and answers it. A client of
// an unsupported version gets the answer anyway, then an ExceptionResponse
// to its ConnectionInfo saying which versions tandem speaks, so that the
// application shows why rather than a negotiation timeout. It returns false
// when the connection must end.
func (c *conn) handshake() bool {
	frame, err := c.r.ReadFrame()
	if err != nil {
		c.readFailed(err)
		return false
	}
	first, err := c.r.Decode(frame)
	info, ok := first.(*wire.WireFormatInfo)
	if err != nil || !ok {
		c.log.Info("closing a connection that did not open with a WireFormatInfo", "event", "bad_handshake", "err", err)
		return false
	}
	answer, agreed, err := wire.AnswerClient(info, c.srv.proposal())
	var verr *wire.VersionError
	switch {
	case errors.As(err, &verr):
		c.refuseVersion(answer, verr)
		return false
	case err != nil:
		c.log.Info("closing a connection whose wire format cannot be agreed", "event", "bad_handshake", "err", err)
		return false
	}
	c.agreed = agreed
	c.w.SetMaxFrameSize(agreed.MaxFrameSize)
	if agreed.MaxInactivityDuration > 0 {
		c.readLimit = time.Duration(agreed.MaxInactivityDuration) * time.Millisecond
	}
	c.agreedFlag.Store(true)
	c.push(outItem{cmd: nil}, 0) // wakes the writer, which starts its keep-alive ticker
	c.sendWireFormat(answer)
	c.send(c.brokerInfo())
	return true
}

// sendWireFormat queues the broker's WireFormatInfo, the one frame that is
// not a Command.
func (c *conn) sendWireFormat(answer *wire.WireFormatInfo) {
	c.push(outItem{cmd: answer}, 256)
}

// refuseVersion answers a client of an unsupported protocol version.
func (c *conn) refuseVersion(answer *wire.WireFormatInfo, verr *wire.VersionError) {
	msg := fmt.Sprintf("OpenWire version %d is not supported: tandem speaks OpenWire %d to %d; upgrade the client library",
		verr.Version, wire.MinVersion, wire.MaxVersion)
	c.log.Info("refusing a client of an old OpenWire version", "event", "connection_refused", "version", verr.Version)
	c.sendWireFormat(answer)
	frame, err := c.r.ReadFrame()
	if err == nil {
		if h, ok := wire.ParseHeader(frame); ok && h.ResponseRequired {
			c.sendFinal(&wire.ExceptionResponse{CorrelationID: h.CommandID, Exception: wire.NewThrowable(classJMSException, msg)})
			return
		}
	}
	c.sendFinal(&wire.ConnectionError{Exception: wire.NewThrowable(classIOException, msg)})
}

// brokerInfo describes this broker, and its backups as peers.
func (c *conn) brokerInfo() *wire.BrokerInfo {
	bi := &wire.BrokerInfo{BrokerID: &wire.BrokerID{Value: c.srv.opts.ServerName}, BrokerName: c.srv.opts.ServerName,
		MasterBroker: true}
	if c.srv.opts.Topology != nil {
		t := c.srv.opts.Topology()
		bi.BrokerURL = t.Live.URLFor(protocolName)
		for _, u := range t.BackupURLs(protocolName) {
			bi.PeerBrokerInfos = append(bi.PeerBrokerInfos, &wire.BrokerInfo{BrokerURL: u, SlaveBroker: true})
		}
		bi.FaultTolerantConfiguration = len(bi.PeerBrokerInfos) > 0
	}
	return bi
}

// connectedBrokers lists the pair's OpenWire URLs, the live's first, for
// ConnectionControl: a failover client adds them to the URLs it tries, so
// one given only the live's address learns its backups.
func (c *conn) connectedBrokers() string {
	if c.srv.opts.Topology == nil {
		return ""
	}
	t := c.srv.opts.Topology()
	var urls []string
	if u := t.Live.URLFor(protocolName); u != "" {
		urls = append(urls, u)
	}
	urls = append(urls, t.BackupURLs(protocolName)...)
	if len(urls) < 2 {
		return ""
	}
	return strings.Join(urls, ",")
}

// checkTopology tells the client of a change in the pair since it was last
// told (a backup announced or gone). It runs on the writer goroutine.
func (c *conn) checkTopology() {
	if !c.connected.Load() {
		return
	}
	brokers := c.connectedBrokers()
	if brokers == c.toldBrokers || brokers == "" {
		return
	}
	c.toldBrokers = brokers
	c.push(outItem{cmd: &wire.ConnectionControl{ConnectedBrokers: brokers}}, 256)
}

// connect handles a ConnectionInfo: authentication, limits, the client ID
// registry and the broker session. It returns false when the connection
// must end.
func (c *conn) connect(x *wire.ConnectionInfo) bool {
	if c.session != nil {
		if x.ConnectionID != nil && x.ConnectionID.Value == c.connID {
			c.respond(x, nil) // replayed on the same connection
			return true
		}
		c.respond(x, errorf(classIllegalState, "this connection is already open as %s", c.connID))
		return true
	}
	if x.ConnectionID == nil || x.ConnectionID.Value == "" {
		c.respond(x, errorf(classJMSException, "ConnectionInfo without a connection ID"))
		return true
	}
	id, err := c.srv.opts.Auth.Authenticate(protocol.SourceOf(c.nc), x.UserName, x.Password)
	if err != nil {
		c.loginFailures++
		if protocol.Throttled(err) {
			c.log.Debug("login throttled", "event", "login_throttled", "user", x.UserName, "err", err)
		} else {
			c.log.Warn("login failed", "event", "login_failed", "user", x.UserName, "err", err)
		}
		c.refuse(x, errorf(classSecurity, "User name [%s] or password is invalid: %v", x.UserName, err))
		return c.loginFailures < maxLoginFailures
	}
	release, err := c.srv.opts.Limits.AcquireUser(id.User)
	if err != nil {
		c.log.Warn("connection refused: max-connections-per-user reached", "event", "connection_refused", "user", id.User)
		c.refuse(x, errorf(classResourceAllocation, "connection refused: %v", err))
		return true
	}
	clientID := x.ClientID
	taken, err := c.srv.reg.claim(c, x.ConnectionID.Value, clientID)
	if err != nil {
		release()
		if errors.Is(err, errClientIDInUse) {
			c.log.Info("connection refused: client ID in use", "event", "connection_refused", "client_id", clientID)
			c.refuse(x, errorf(classInvalidClientID, "Broker: %s - Client: %s already connected from another connection; a client ID is used by one connection at a time",
				c.srv.opts.ServerName, clientID))
			return true
		}
		c.refuse(x, errorf(classJMSException, "%v", err))
		return true
	}
	c.connID, c.clientID = x.ConnectionID.Value, clientID
	sess, err := c.srv.opts.Broker.NewSession(broker.SessionInfo{User: id.User, Roles: id.Roles, ClientID: clientID,
		RemoteAddr: c.nc.RemoteAddr().String(), Protocol: protocolName})
	if err != nil {
		release()
		c.srv.reg.release(c)
		c.connID, c.clientID = "", ""
		c.refuse(x, errorf(classJMSException, "the broker cannot open a session: %v", err))
		return true
	}
	c.session, c.user, c.release = sess, id.User, release
	c.faultTolerant = x.FaultTolerant || x.FailoverReconnect
	c.resumed = x.FailoverReconnect
	c.idPrefix = c.srv.idPrefix()
	if c.readLimit > 0 {
		c.readSetAt = time.Time{}
		_ = c.nc.SetReadDeadline(time.Now().Add(c.readLimit + c.readLimit/8))
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	if taken != nil {
		c.log.Info("client reconnected and took over its previous connection", "event", "connection_resumed",
			"connection_id", c.connID, "client_id", clientID)
	} else {
		c.log.Debug("client connected", "event", "client_connected", "user", id.User, "client_id", clientID,
			"failover_reconnect", x.FailoverReconnect)
	}
	c.respond(x, nil)
	if brokers := c.connectedBrokers(); brokers != "" {
		c.toldBrokers = brokers
		c.send(&wire.ConnectionControl{ConnectedBrokers: brokers})
	}
	c.connected.Store(true)
	return true
}

// refuse answers a ConnectionInfo with an exception; the connection stays
// open, unconnected, until the client closes it or the handshake timeout
// passes, as ActiveMQ Classic leaves it.
func (c *conn) refuse(x *wire.ConnectionInfo, err error) {
	c.send(&wire.ExceptionResponse{CorrelationID: x.CommandID, Exception: throwable(err)})
}

// idPrefix is the producer connection id of the message ids the broker
// makes up: the pair's node id when there is one, so that a message keeps
// its id across a failover and the client's duplicate check recognises it,
// else an id of this run.
func (s *Server) idPrefix() string {
	if s.opts.Topology != nil {
		if t := s.opts.Topology(); t.NodeID != "" {
			return "ID:tandem-" + t.NodeID
		}
	}
	return "ID:tandem-" + s.boot
}

// Refuse implements listener.Refuser: it agrees a wire format with a
// connection the listener will not serve, then answers its ConnectionInfo
// with an exception that says why, which the JMS client throws from
// Connection.start.
func (s *Server) Refuse(nc net.Conn, reason string) {
	deadline := time.Now().Add(2 * time.Second)
	_ = nc.SetDeadline(deadline)
	r := wire.NewReader(nc, wire.ReaderOptions{MaxFrameSize: 1 << 20})
	w := wire.NewWriter(nc)
	first, err := r.ReadCommand()
	info, ok := first.(*wire.WireFormatInfo)
	if err != nil || !ok {
		return
	}
	answer, _, err := wire.AnswerClient(info, s.proposal())
	if answer == nil || (err != nil && !errors.Is(err, wire.ErrUnsupportedVersion)) {
		return
	}
	if w.WriteCommand(answer) != nil || w.Flush() != nil {
		return
	}
	for i := 0; i < 8; i++ {
		frame, err := r.ReadFrame()
		if err != nil {
			return
		}
		h, ok := wire.ParseHeader(frame)
		if !ok || h.Type != wire.TypeConnectionInfo {
			continue
		}
		_ = w.WriteCommand(&wire.ExceptionResponse{CorrelationID: h.CommandID,
			Exception: wire.NewThrowable(classJMSException, "connection refused: "+reason)})
		_ = w.Flush()
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
		return
	}
}
