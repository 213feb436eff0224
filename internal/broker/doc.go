// Package broker is tandem's messaging core: addresses with anycast and
// multicast routing, queues holding references to messages, consumers with
// credit-based flow control, acknowledgement, redelivery, dead letters and
// expiry, transactions and duplicate detection.
//
// Protocol adapters drive it through a protocol-neutral API: a Session per
// client connection, on which they Send messages and Subscribe consumers
// whose deliveries arrive through a callback. No protocol or wire type ever
// crosses into this package; it depends only on message, store and the
// small interfaces it declares itself.
//
// Locking: the Broker's mu guards the address and queue registries; each
// queue's mu guards its message lists, its consumers and their in-flight
// deliveries. A goroutine never holds two queue locks at once, and never
// takes Broker.mu while holding a queue lock.
package broker
