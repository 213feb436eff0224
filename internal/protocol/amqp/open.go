package amqp

import (
	"crypto/x509"
	"fmt"
	"strconv"
	"time"

	"tandem/internal/broker"
	"tandem/internal/protocol"
	wire "tandem/internal/wire/amqp"
)

// propConnectionFailed marks an open frame that is followed by a close
// refusing the connection (Qpid JMS then reports the close's error rather
// than retrying blindly).
const propConnectionFailed wire.Symbol = "amqp:connection-establishment-failed"

// offered are the connection capabilities tandem announces.
var offered = []wire.Symbol{wire.CapabilitySoleConnection, wire.CapabilityDelayedDelivery, wire.CapabilitySharedSubs,
	wire.CapabilityAnonymousRelay}

// sasl runs the SASL layer: it offers the mechanisms, authenticates the
// client's choice and reports whether the connection may go on.
func (c *conn) sasl() bool {
	mechs := []wire.Symbol{wire.SASLMechanismPlain, wire.SASLMechanismAnonymous}
	cert := c.clientCertificate()
	if cert != nil {
		mechs = append([]wire.Symbol{wire.SASLMechanismExternal}, mechs...)
	}
	c.w.WriteProtocolHeader(wire.HeaderSASL)
	if err := c.w.WriteFrame(0, &wire.SASLMechanisms{Mechanisms: mechs}, nil); err != nil || c.w.Flush() != nil {
		return false
	}
	init, ok := c.readSASL().(*wire.SASLInit)
	if !ok {
		return false
	}
	var (
		id  protocol.Identity
		err error
	)
	source := protocol.SourceOf(c.nc)
	user := ""
	switch init.Mechanism {
	case wire.SASLMechanismPlain:
		resp := init.InitialResponse
		if resp == nil {
			// No initial response: ask for it with an empty challenge.
			if c.w.WriteFrame(0, &wire.SASLChallenge{Challenge: []byte{}}, nil) != nil || c.w.Flush() != nil {
				return false
			}
			r, ok := c.readSASL().(*wire.SASLResponse)
			if !ok {
				return false
			}
			resp = r.Response
		}
		_, u, pass, ok := wire.PlainCredentials(resp)
		if !ok {
			err = fmt.Errorf("the PLAIN response is not authzid NUL user NUL password")
		} else {
			user = u
			id, err = c.srv.opts.Auth.Authenticate(source, u, pass)
		}
	case wire.SASLMechanismAnonymous:
		id, err = c.srv.opts.Auth.Authenticate(source, "", "")
	case wire.SASLMechanismExternal:
		ca, ok := c.srv.opts.Auth.(CertificateAuthenticator)
		switch {
		case cert == nil:
			err = fmt.Errorf("EXTERNAL needs a TLS client certificate")
		case !ok:
			err = fmt.Errorf("this broker does not log in with certificates")
		default:
			user = cert.Subject.CommonName
			id, err = ca.AuthenticateCertificate(source, cert)
		}
	default:
		err = fmt.Errorf("SASL mechanism %q is not offered; use PLAIN, ANONYMOUS or EXTERNAL", init.Mechanism)
	}
	if err != nil {
		c.logLoginFailure(string(init.Mechanism), user, err)
		_ = c.w.WriteFrame(0, &wire.SASLOutcome{Code: wire.SASLAuth}, nil)
		_ = c.w.Flush()
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		return false
	}
	if c.w.WriteFrame(0, &wire.SASLOutcome{Code: wire.SASLOK}, nil) != nil || c.w.Flush() != nil {
		return false
	}
	c.identity, c.authenticated = id, true
	return true
}

// readSASL reads one SASL frame; nil when the client sends something
// else or goes away.
func (c *conn) readSASL() wire.SASLPerformative {
	f, err := c.r.ReadFrame()
	if err != nil {
		return nil
	}
	if f.Type != wire.FrameSASL {
		c.log.Info("closing a connection that sent an AMQP frame in the SASL layer", "event", "bad_sasl")
		return nil
	}
	p, err := wire.DecodeSASL(f.Body)
	if err != nil {
		c.log.Info("closing a connection that sent a malformed SASL frame", "event", "bad_sasl", "err", err)
		return nil
	}
	return p
}

// logLoginFailure logs a refused login; one refused by the throttle goes
// to debug, as in the STOMP adapter.
func (c *conn) logLoginFailure(mech, user string, err error) {
	if protocol.Throttled(err) {
		c.log.Debug("login throttled", "event", "login_throttled", "user", user, "err", err)
		return
	}
	c.log.Warn("login failed", "event", "login_failed", "mechanism", mech, "user", user, "err", err)
}

// onOpen accepts or refuses the client's open.
func (c *conn) onOpen(o *wire.Open) error {
	c.containerID = o.ContainerID
	if mfs := o.EffectiveMaxFrameSize(); mfs < wire.MinMaxFrameSize {
		return c.refuseOpen(o, wire.NewError(wire.ErrorFrameSizeTooSmall,
			"max-frame-size %d is below the 512 bytes every peer must accept", mfs))
	}
	if !c.authenticated {
		// No SASL layer: the client is anonymous.
		id, err := c.srv.opts.Auth.Authenticate(protocol.SourceOf(c.nc), "", "")
		if err != nil {
			c.logLoginFailure("none", "", err)
			return c.refuseOpen(o, wire.NewError(wire.ErrorUnauthorizedAccess,
				"%v (connect with SASL PLAIN and a user name and password)", err))
		}
		c.identity = id
	}
	sole := wire.HasCapability(o.DesiredCapabilities, wire.CapabilitySoleConnection)
	if !c.srv.claimContainer(o.ContainerID, sole) {
		e := wire.NewError(wire.ErrorInvalidField,
			"container-id %q is already connected to this broker and this connection asks to be its only one", o.ContainerID)
		e.Info = wire.Map{{Key: wire.Symbol("invalid-field"), Value: wire.Symbol("container-id")}}
		c.log.Info("connection refused: container-id already connected", "event", "connection_refused",
			"container_id", o.ContainerID)
		return c.refuseOpen(o, e)
	}
	c.claimed = true
	release, err := c.srv.opts.Limits.AcquireUser(c.identity.User)
	if err != nil {
		c.log.Warn("connection refused: max-connections-per-user reached", "event", "connection_refused",
			"user", c.identity.User, "max", c.srv.opts.Limits.MaxPerUser())
		return c.refuseOpen(o, wire.NewError(wire.ErrorResourceLimitExceeded, "%v", err))
	}
	c.release = release
	sess, err := c.srv.opts.Broker.NewSession(broker.SessionInfo{User: c.identity.User, Roles: c.identity.Roles,
		ClientID: o.ContainerID, RemoteAddr: c.nc.RemoteAddr().String(), Protocol: protocolName})
	if err != nil {
		return c.refuseOpen(o, wire.NewError(wire.ErrorConnectionForced, "the broker is not available: %v", err))
	}
	c.session = sess
	c.opened = true
	if o.IdleTimeout > 0 {
		c.peerIdle.Store(int64(time.Duration(o.IdleTimeout) * time.Millisecond))
	}
	c.sendOpenIfNeeded(o)
	if c.srv.opts.IdleTimeout > 0 {
		c.readLimit = c.srv.opts.IdleTimeout
		c.readSetAt = time.Time{}
		_ = c.nc.SetReadDeadline(time.Now().Add(c.readLimit))
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.log.Debug("client connected", "event", "client_connected", "user", c.identity.User, "container_id", o.ContainerID)
	return nil
}

// refuseOpen answers an open the broker will not accept: our open, marked
// as failed, then a close with e.
func (c *conn) refuseOpen(peer *wire.Open, e *wire.Error) error {
	c.openSent = true
	c.push(outItem{kind: outOpen, p: &wire.Open{ContainerID: c.srv.opts.ServerName,
		Properties: wire.Map{{Key: propConnectionFailed, Value: true}}}, maxFrame: max(peer.EffectiveMaxFrameSize(), wire.MinMaxFrameSize)})
	c.openQueued.Store(true)
	return e
}

// sendOpenIfNeeded queues our open frame unless one is queued already;
// peer is the client's open, nil when the connection fails before one
// arrived.
func (c *conn) sendOpenIfNeeded(peer *wire.Open) {
	if c.openSent {
		return
	}
	c.openSent = true
	maxFrame := uint32(wire.MinMaxFrameSize)
	if peer != nil {
		maxFrame = peer.EffectiveMaxFrameSize()
	}
	idle := uint32(0)
	if c.srv.opts.IdleTimeout > 0 {
		idle = uint32(c.srv.opts.IdleTimeout / time.Millisecond)
	}
	open := &wire.Open{
		ContainerID:         c.srv.opts.ServerName,
		MaxFrameSize:        c.srv.opts.MaxFrameSize,
		ChannelMax:          wire.Some(uint16(c.srv.opts.MaxSessions - 1)),
		IdleTimeout:         idle,
		OfferedCapabilities: offered,
		Properties:          c.openProperties(),
	}
	c.push(outItem{kind: outOpen, p: open, maxFrame: maxFrame})
	c.openQueued.Store(true)
}

// openProperties are the properties of our open: the product, and the
// live's backups as Artemis announces them (failover-server-list), which
// Qpid JMS adds to its failover list.
func (c *conn) openProperties() wire.Map {
	props := wire.Map{{Key: wire.Symbol("product"), Value: "tandem"}}
	if c.srv.opts.Topology == nil {
		return props
	}
	t := c.srv.opts.Topology()
	if t.NodeID != "" {
		props = append(props, wire.MapEntry{Key: wire.Symbol("tandem-node-id"), Value: t.NodeID},
			wire.MapEntry{Key: wire.Symbol("tandem-epoch"), Value: t.Epoch})
	}
	if list := failoverServerList(t); len(list) > 0 {
		props = append(props, wire.MapEntry{Key: wire.PropertyFailoverServerList, Value: list})
	}
	return props
}

// failoverServerList renders the topology's backups that serve AMQP as
// Artemis does: a list of maps with network-host, hostname, port and
// scheme.
func failoverServerList(t protocol.Topology) wire.List {
	var out wire.List
	for _, u := range t.BackupURLs(protocolName) {
		scheme, host, port, ok := protocol.HostPort(u)
		if !ok {
			continue
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			continue
		}
		amqpScheme := "amqp"
		if scheme == "ssl" || scheme == "tls" {
			amqpScheme = "amqps"
		}
		out = append(out, wire.Map{
			{Key: wire.Symbol("network-host"), Value: host},
			{Key: wire.Symbol("hostname"), Value: host},
			{Key: wire.Symbol("port"), Value: int32(p)},
			{Key: wire.Symbol("scheme"), Value: amqpScheme},
		})
	}
	return out
}

// clientCertificate returns the verified certificate the client presented
// in the TLS handshake, nil when there is none.
func (c *conn) clientCertificate() *x509.Certificate {
	if c.srv.opts.TLSState == nil {
		return nil
	}
	st := c.srv.opts.TLSState(c.nc)
	if st == nil || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return nil
	}
	return st.PeerCertificates[0]
}
