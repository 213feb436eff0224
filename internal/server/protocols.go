package server

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"

	"tandem/internal/config"
	"tandem/internal/listener"
	"tandem/internal/message"
	"tandem/internal/protocol"
	amqpproto "tandem/internal/protocol/amqp"
	"tandem/internal/protocol/cluster"
	mqttproto "tandem/internal/protocol/mqtt"
	openwireproto "tandem/internal/protocol/openwire"
	stompproto "tandem/internal/protocol/stomp"
	mqttwire "tandem/internal/wire/mqtt"
	"tandem/internal/wstransport"
)

// adapterFactory builds a protocol adapter from what every adapter shares
// and the configuration its own options come from; ctx ends when the
// broker the adapter serves stops, for adapters with background work.
type adapterFactory func(ctx context.Context, env protocol.Env, cfg *config.Config) listener.Protocol

// adapters is the protocol registry: one factory per protocol tandem
// speaks, under its name in acceptors' protocols= (config.SpokenProtocols
// lists the same names; a test keeps the two equal).
// The users file logs AMQP clients in by their TLS certificate (SASL
// EXTERNAL).
var _ amqpproto.CertificateAuthenticator = authAdapter{}

var adapters = map[string]adapterFactory{
	config.ProtocolSTOMP: func(_ context.Context, env protocol.Env, cfg *config.Config) listener.Protocol {
		return stompproto.NewServer(stompproto.Options{Env: env,
			MaxFrameSize: int(cfg.MaxFrameSize), MaxHeaders: cfg.Limits.MaxHeaders,
			MaxHeaderSize: int(cfg.Limits.MaxHeaderSize), MaxSubscriptions: cfg.Limits.MaxSubscriptions,
			MaxDestinationLength: cfg.Limits.MaxDestinationLength, ConnectTimeout: cfg.Limits.HandshakeTimeout,
			ProducerWindowSize: int(cfg.ProducerWindowSize),
		})
	},
	config.ProtocolOpenWire: func(_ context.Context, env protocol.Env, cfg *config.Config) listener.Protocol {
		return openwireproto.NewServer(openwireproto.Options{Env: env, MaxFrameSize: int(cfg.MaxFrameSize),
			ConnectTimeout: cfg.Limits.HandshakeTimeout, MaxConsumers: cfg.Limits.MaxSubscriptions,
			MaxDestinationLength: cfg.Limits.MaxDestinationLength,
		})
	},
	config.ProtocolMQTT: func(ctx context.Context, env protocol.Env, cfg *config.Config) listener.Protocol {
		m := cfg.MQTT
		return mqttproto.NewServer(mqttproto.Options{Env: env, Context: ctx,
			MaxPacketSize: int(min(cfg.MaxFrameSize, mqttwire.MaxPacketSize)), ConnectTimeout: cfg.Limits.HandshakeTimeout,
			MaxSubscriptions: cfg.Limits.MaxSubscriptions, MaxTopicLength: cfg.Limits.MaxDestinationLength,
			DefaultSessionExpiry: m.DefaultSessionExpiry, ReceiveMaximum: m.ReceiveMaximum,
			TopicAliasMaximum: m.TopicAliasMaximum, ServerKeepAlive: m.ServerKeepAlive,
			RetainedDeliveryRate: m.RetainedDeliveryRate, CloseOnPublishRefused: m.CloseOnPublishRefused,
		})
	},
	config.ProtocolAMQP: func(_ context.Context, env protocol.Env, cfg *config.Config) listener.Protocol {
		return amqpproto.NewServer(amqpproto.Options{Env: env,
			// max-frame-size bounds what one client may make the broker
			// hold at once; an AMQP message is that unit, however many
			// frames carry it.
			MaxMessageSize: uint64(cfg.MaxFrameSize), MaxLinks: cfg.Limits.MaxSubscriptions,
			MaxDestinationLength: cfg.Limits.MaxDestinationLength, HandshakeTimeout: cfg.Limits.HandshakeTimeout,
			Addresses: func(addr string) amqpproto.AddressPolicy {
				s := cfg.AddressSettingsFor(addr)
				rt := message.Anycast
				if s.DefaultAddressRoutingType == config.Multicast {
					rt = message.Multicast
				}
				return amqpproto.AddressPolicy{RoutingType: rt, AutoCreate: s.AutoCreateAddresses}
			},
			TLSState: listener.TLSState,
		})
	},
}

// protocolSet builds each protocol's adapter once and hands out the ones
// an acceptor serves, with the cluster protocol, which every acceptor
// serves so that a pair can announce its backups whatever its clients
// speak.
type protocolSet struct {
	// ctx ends when the broker the adapters serve stops.
	ctx     context.Context
	env     protocol.Env
	cfg     *config.Config
	log     *slog.Logger
	built   map[string]listener.Protocol
	cluster listener.Protocol
}

func newProtocolSet(ctx context.Context, env protocol.Env, cfg *config.Config, clusterSrv *cluster.Server) *protocolSet {
	return &protocolSet{ctx: ctx, env: env, cfg: cfg, log: env.Logger, built: map[string]listener.Protocol{}, cluster: clusterSrv}
}

// forAcceptor returns the protocols acceptor a serves.
func (ps *protocolSet) forAcceptor(a config.Acceptor) []listener.Protocol {
	serve, unsupported := a.Protocols()
	if len(unsupported) > 0 {
		ps.log.Warn("acceptor lists protocols tandem does not speak; clients of those cannot connect to it",
			"event", "acceptor_protocols_skipped", "name", a.Name, "skipped", strings.Join(unsupported, ","),
			"serving", strings.Join(serve, ","))
	}
	out := make([]listener.Protocol, 0, len(serve)+2)
	for _, name := range serve {
		out = append(out, ps.adapter(name))
	}
	if ws := ps.webSocket(serve); ws != nil {
		out = append(out, ws)
	}
	return append(out, ps.cluster)
}

// adapter returns the adapter of protocol name, built on first use.
func (ps *protocolSet) adapter(name string) listener.Protocol {
	p, ok := ps.built[name]
	if !ok {
		p = adapters[name](ps.ctx, ps.env, ps.cfg)
		ps.built[name] = p
	}
	return p
}

// webSocketProtocols are the protocols that run over WebSocket.
var webSocketProtocols = []string{config.ProtocolSTOMP, config.ProtocolMQTT}

// webSocket returns the WebSocket transport for the protocols in serve
// that run over it, or nil when none does.
func (ps *protocolSet) webSocket(serve []string) *wstransport.Transport {
	inner := map[string]listener.Protocol{}
	for _, name := range serve {
		if slices.Contains(webSocketProtocols, name) {
			inner[name] = ps.adapter(name)
		}
	}
	if len(inner) == 0 {
		return nil
	}
	return wstransport.New(wstransport.Options{Adapters: inner, AllowedOrigins: ps.cfg.WebSocketAllowedOrigins,
		MaxMessageSize: ps.cfg.MaxFrameSize, HandshakeTimeout: ps.cfg.Limits.HandshakeTimeout, Logger: ps.log,
		Context: ps.ctx})
}

// protocolsAt returns the protocols served on the port of a connector URL
// (tcp://host:port), as a node tells its peers; nil means every one.
func (s *Server) protocolsAt(connectorURL string) []string {
	u, err := url.Parse(connectorURL)
	if err != nil {
		return nil
	}
	_, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil
	}
	for _, a := range s.cfg.Acceptors {
		if _, p, err := net.SplitHostPort(a.Addr()); err == nil && p == port {
			if _, listed := a.Options["protocols"]; !listed {
				return nil
			}
			serve, _ := a.Protocols()
			return serve
		}
	}
	return nil
}

// selfNode is this node as its clients and peers reach it: the connector
// its cluster connection names.
func (s *Server) selfNode() protocol.Node {
	n := protocol.Node{Name: s.cfg.Name}
	if u := s.ownURL(); u != "" {
		n.Endpoints = []protocol.Endpoint{{URL: u, Protocols: s.protocolsAt(u)}}
	}
	return n
}
