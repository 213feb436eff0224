package mqtt

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"tandem/internal/broker"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/mqtt"
)

// connect handles the CONNECT: authentication, the client identifier,
// the session (taken over, continued or started clean), and the CONNACK
// with what MQTT 5 clients are told of tandem's limits.
func (c *conn) connect(p *wire.Connect) bool {
	v := p.Version
	c.version = v
	c.w.SetVersion(v)
	if v == wire.V5 && p.Properties.Has(wire.PropAuthMethod) {
		m, _ := p.Properties.String(wire.PropAuthMethod)
		return c.refuse(wire.BadAuthenticationMethod, wire.RefusedNotAuthorized,
			fmt.Sprintf("authentication method %q: tandem does not support MQTT 5 enhanced authentication; use a user name and password", m))
	}
	login := ""
	if p.HasUsername {
		login = p.Username
	}
	id, err := c.srv.opts.Auth.Authenticate(protocol.SourceOf(c.nc), login, string(p.Password))
	if err != nil {
		if protocol.Throttled(err) {
			c.log.Debug("login throttled", "event", "login_throttled", "user", login, "err", err)
		} else {
			c.log.Warn("login failed", "event", "login_failed", "user", login, "protocol", protocolName, "err", err)
		}
		if login == "" {
			return c.refuse(wire.NotAuthorized, wire.RefusedNotAuthorized, "anonymous access is not allowed; connect with a user name and password")
		}
		return c.refuse(wire.BadUserNameOrPassword, wire.RefusedBadUserNameOrPassword, fmt.Sprintf("login failed for user %q", login))
	}
	c.user, c.roles = id.User, id.Roles
	release, err := c.srv.opts.Limits.AcquireUser(c.user)
	if err != nil {
		c.log.Warn("connection refused: max-connections-per-user reached", "event", "connection_refused", "user", c.user,
			"max", c.srv.opts.Limits.MaxPerUser())
		return c.refuse(wire.QuotaExceeded, wire.RefusedServerUnavailable, err.Error())
	}
	c.release = release

	clientID, assigned := p.ClientID, false
	if clientID == "" {
		if v != wire.V5 && !p.CleanStart {
			// [MQTT-3.1.3-8]: a 3.1.1 session needs an identifier to come
			// back to.
			return c.refuse(wire.ClientIdentifierNotValid, wire.RefusedIdentifierRejected,
				"an empty client identifier needs Clean Session 1")
		}
		clientID, assigned = newClientID(), v == wire.V5
	}
	if len(clientID) > c.srv.opts.MaxTopicLength {
		return c.refuse(wire.ClientIdentifierNotValid, wire.RefusedIdentifierRejected,
			fmt.Sprintf("the client identifier is %d bytes long; the limit is %d", len(clientID), c.srv.opts.MaxTopicLength))
	}
	c.clientID = clientID
	c.log = c.log.With("client_id", clientID)

	expiry := uint32(0)
	if v == wire.V5 {
		expiry, _ = p.Properties.Int(wire.PropSessionExpiry)
	} else if !p.CleanStart {
		expiry = neverExpires
		if d := c.srv.opts.DefaultSessionExpiry; d >= 0 {
			expiry = uint32(min(d/time.Second, neverExpires-1))
		}
	}
	keepAlive, serverKA := p.KeepAlive, uint16(0)
	if limit := c.srv.opts.ServerKeepAlive; limit > 0 && (keepAlive == 0 || time.Duration(keepAlive)*time.Second > limit) {
		keepAlive = uint16(limit / time.Second)
		serverKA = keepAlive
	}
	c.outMax = c.srv.opts.ReceiveMaximum
	if v == wire.V5 {
		c.outMax = 65535
		if rm, ok := p.Properties.Int(wire.PropReceiveMaximum); ok {
			c.outMax = int(rm)
		}
		if mps, ok := p.Properties.Int(wire.PropMaximumPacketSize); ok {
			c.w.SetMaxPacketSize(int(mps))
		}
		if tam, _ := p.Properties.Int(wire.PropTopicAliasMaximum); tam > 0 {
			// Aliases go only to clients that ask for them (docs/mqtt.md:
			// mosquitto_sub and paho-mqtt 1.6 do not resolve them).
			c.w.SetOutboundAliases(wire.NewOutboundAliases(uint16(tam)))
		}
		c.aliases = wire.NewInboundAliases(uint16(c.srv.opts.TopicAliasMaximum))
	}
	if p.Will != nil {
		c.will = p.Will
		if v == wire.V5 {
			c.willDelay, _ = p.Will.Properties.Int(wire.PropWillDelay)
		}
	}

	st, err := c.srv.store(c.srv.ctx)
	if err != nil {
		return c.refuse(wire.ServerUnavailable, wire.RefusedServerUnavailable, "the broker cannot open its MQTT session store: "+err.Error())
	}
	if err := st.ensure(); err != nil {
		return c.refuse(wire.ServerUnavailable, wire.RefusedServerUnavailable, "the broker cannot create its MQTT session store: "+err.Error())
	}
	c.st = st
	bs, err := c.srv.opts.Broker.NewSession(broker.SessionInfo{User: c.user, Roles: c.roles, ClientID: clientID,
		RemoteAddr: c.nc.RemoteAddr().String(), Protocol: protocolName})
	if err != nil {
		return c.refuse(wire.ServerUnavailable, wire.RefusedServerUnavailable, err.Error())
	}
	c.session = bs
	sess, present, err := c.srv.reg.attach(c, p.CleanStart, expiry)
	if err != nil {
		if errors.Is(err, errNotOwner) {
			c.log.Warn("MQTT client id refused: its session belongs to another user", "event", "connection_refused", "user", c.user)
			return c.refuse(wire.NotAuthorized, wire.RefusedNotAuthorized,
				fmt.Sprintf("the session of client id %q belongs to another user", clientID))
		}
		return c.refuse(wire.ServerUnavailable, wire.RefusedServerUnavailable, err.Error())
	}
	c.sess = sess

	ack := &wire.Connack{SessionPresent: present}
	if v == wire.V5 {
		ack.Properties = c.connackProperties(assigned, serverKA)
	}
	c.r.SetMaxPacketSize(c.srv.opts.MaxPacketSize)
	if keepAlive > 0 {
		c.readLimit = time.Duration(keepAlive) * time.Second * 3 / 2
		c.readSetAt = time.Time{}
		_ = c.nc.SetReadDeadline(time.Now().Add(c.readLimit))
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.connected.Store(true)
	c.log.Debug("MQTT client connected", "event", "client_connected", "user", c.user, "version", v.String(),
		"clean", p.CleanStart, "session_present", present, "expiry", expiry, "keep_alive", keepAlive)
	c.enqueue(ack)
	if present {
		if v == wire.V5 {
			c.inflightIn.Store(int32(st.countMarkers(clientID, markerIn)))
		}
		c.resumeOutbound()
		for _, sub := range sess.subscriptionList() {
			if err := c.attachConsumer(sub); err != nil {
				c.log.Warn("MQTT subscription not resumed", "filter", sub.filter, "err", err)
			}
		}
	}
	return true
}

// connackProperties are what a CONNACK tells an MQTT 5 client: tandem's
// Receive Maximum, Maximum Packet Size and Topic Alias Maximum, an
// assigned client identifier, the Server Keep Alive when tandem changed
// the client's. QoS 2, retained messages, wildcards, subscription
// identifiers and shared subscriptions are all available, which is what
// their absence says.
func (c *conn) connackProperties(assigned bool, serverKA uint16) wire.Properties {
	o := c.srv.opts
	ps := wire.Properties{wire.IntProp(wire.PropReceiveMaximum, uint32(o.ReceiveMaximum))}
	if o.MaxPacketSize < wire.MaxPacketSize {
		ps = append(ps, wire.IntProp(wire.PropMaximumPacketSize, uint32(o.MaxPacketSize)))
	}
	ps = append(ps, wire.IntProp(wire.PropTopicAliasMaximum, uint32(o.TopicAliasMaximum)))
	if assigned {
		ps = append(ps, wire.StringProp(wire.PropAssignedClientID, c.clientID))
	}
	if serverKA > 0 {
		ps = append(ps, wire.IntProp(wire.PropServerKeepAlive, uint32(serverKA)))
	}
	return ps
}

// refuse answers CONNECT with a refusing CONNACK (code5 for MQTT 5, the
// 3.1.1 return code code3 otherwise) and ends the connection.
func (c *conn) refuse(code5, code3 wire.ReasonCode, why string) bool {
	c.log.Info("MQTT connection refused", "event", "connection_refused", "reason", code5.String(), "detail", why)
	ack := &wire.Connack{Reason: code3}
	if c.version == wire.V5 {
		ack = &wire.Connack{Reason: code5, Properties: wire.Properties{wire.StringProp(wire.PropReasonString, truncate(why, 500))}}
	}
	c.enqueueFinal(ack)
	return false
}

// kick ends the connection for a reason of the server's (a takeover):
// MQTT 5 clients get a DISCONNECT with the code first.
func (c *conn) kick(code wire.ReasonCode, why string) {
	if c.version == wire.V5 {
		c.enqueueFinal(&wire.Disconnect{Reason: code, Properties: wire.Properties{
			wire.StringProp(wire.PropReasonString, truncate(why, 500))}})
		time.AfterFunc(time.Second, c.shutdown)
		return
	}
	c.shutdown()
}

// end releases what the connection held: the broker session (its
// consumers return their unacknowledged deliveries), then the MQTT
// session.
func (c *conn) end() {
	if c.session != nil {
		c.session.Close()
	}
	if c.sess != nil {
		c.srv.reg.detach(c)
	} else {
		close(c.finished)
	}
}

// serverReference is the address of a backup that serves MQTT, for the
// Server Reference of a DISCONNECT when this node stops: host:port.
func (c *conn) serverReference() string {
	if c.srv.opts.Topology == nil {
		return ""
	}
	for _, u := range c.srv.opts.Topology().BackupURLs(protocolName) {
		if _, host, port, ok := protocol.HostPort(u); ok {
			return host + ":" + port
		}
	}
	return ""
}

// newClientID makes an identifier for a client that sent none.
func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "tandem-" + hex.EncodeToString(b[:])
}
