// Package amqp serves AMQP 1.0 clients (Qpid JMS, Qpid Proton, rhea,
// go-amqp, .NET Lite...): the connection, session and link engine on the
// codec of internal/wire/amqp, and the mapping of links and messages onto
// the broker's session API, following Apache Artemis so that code and
// URLs written for Artemis work unchanged. docs/amqp.md describes the
// mapping, docs/protocols.md the conversion to and from other protocols.
//
// One goroutine per connection reads frames and handles them in order: it
// owns the sessions, the links and the broker session. A second goroutine
// writes: everything bound for the client goes through the connection's
// outbound queue, which the writer drains in bursts, one flush per burst.
// The writer owns what counts transfers on the wire (each session's
// next-outgoing-id and the peer's incoming-window, each sending link's
// delivery-count), so a sending link's deliveries, which come from broker
// goroutines through the consumer's callback, need no lock beyond the
// queue's: the callback only appends to the outbound queue.
//
// Link credit is the broker's credit mode: a flow from the client sets the
// consumer's credit, a drain is answered at once with what was unused.
// Messages sent by AMQP clients keep their encoding (message.Native) and
// go to AMQP consumers byte for byte, only the header rewritten on
// redelivery; messages from other protocols are converted.
package amqp
