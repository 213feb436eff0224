// Package stomp serves STOMP 1.0, 1.1 and 1.2 clients: it turns frames
// into calls on a broker Session and deliveries back into frames.
//
// One goroutine per connection reads and handles frames in order; a second
// writes. Everything bound for the client (receipts, messages, errors) goes
// through the connection's outbound queue, which the writer drains in
// bursts, one flush (one syscall) per burst. Deliveries arrive from broker
// goroutines and only append to that queue, as the broker requires.
//
// Destinations are accepted in every common spelling: /queue/X and /topic/X
// (ActiveMQ), queue://X and topic://X, a bare X with Artemis'
// destination-type or subscription-type header, and a bare X meaning a
// queue. See docs/stomp.md.
package stomp
