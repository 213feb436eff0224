// Package openwire is tandem's OpenWire protocol adapter: it lets ActiveMQ
// Classic's own JMS client (activemq-client) and tools talk to the broker
// unchanged, failover: URLs included.
//
// The adapter stands on the codec in internal/wire/openwire and on the
// protocol-neutral core (internal/broker, internal/message). One OpenWire
// connection is one broker session; the JMS sessions, producers and
// consumers inside it are the adapter's own bookkeeping. It maps:
//
//   - ConnectionInfo to authentication, the connection limits and the
//     client ID registry (a stale connection with the same ConnectionId is
//     taken over at once, as a failover client expects);
//   - messages to message.Message and back (docs/protocols.md has the
//     table), persistent sends outside a transaction answered once durable,
//     each stamped with its OpenWire message id as the duplicate-detection
//     id so a send replayed after a failover is stored once;
//   - consumers to credit-mode broker consumers topped up by delivered and
//     standard acks, prefetch 0 to pulls, browsers to snapshots;
//   - acks and local transactions to settlements (a rolled-back
//     transaction's acks leave their messages with the consumer, which
//     redelivers them itself);
//   - temporary destinations to the session's temporary queues and topics,
//     announced on ActiveMQ.Advisory.TempQueue and TempTopic.
//
// docs/openwire.md describes the wire behaviour and what is left out.
package openwire
