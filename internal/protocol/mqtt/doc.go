// Package mqtt is tandem's MQTT 3.1, 3.1.1 and 5.0 adapter on the
// protocol-neutral broker core: connections, sessions that outlive them,
// QoS 0, 1 and 2 in both directions, retained messages, wills, and the
// MQTT 5 features (properties, reason codes, topic aliases, subscription
// identifiers, flow control), over TCP or, through internal/wstransport,
// WebSocket.
//
// It maps MQTT onto addresses and queues as Artemis does
// (docs/mqtt.md, "Sessions and delivery"): a topic is an address
// (internal/wire/mqtt's TopicToAddress), a subscription is a multicast
// queue named <clientId>.<address filter> (shared ones <name>.<filter>),
// and a subscriber to an anycast address competes on its queue. What an
// MQTT session must remember across a restart or a failover (its
// subscriptions and expiry, the packet identifiers of QoS 2 exchanges in
// flight, the retained messages) is kept in durable queues of its own,
// $sys.mqtt.sessions, $sys.mqtt.qos2 and $sys.mqtt.retain, which a live's
// backup recovers with the rest of the shared store.
//
// The package imports the broker, the codec (internal/wire/mqtt), the
// message model and the adapter contract (internal/protocol); nothing else
// of tandem.
package mqtt
