// Package client is tandem's public Go client. It speaks STOMP (1.2 when the
// broker does, else 1.1 or 1.0) to tandem or to any other STOMP broker, and
// it is what the tandem producer, consumer, browse and perf commands use.
//
// A program dials a URL, then sends, subscribes, browses and runs
// transactions on the returned *Conn:
//
//	c, err := client.Dial(ctx, "tcp://localhost:61616", client.WithCredentials("admin", "admin"))
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Send(ctx, "queue://TEST", []byte("hello"))
//	sub, err := c.Subscribe(ctx, "queue://TEST", client.WithAckMode(client.AckClient))
//	m, err := sub.Receive(ctx)
//	err = m.Ack(ctx)
//
// # URLs
//
// ParseURL accepts a single broker (tcp://host:port), ActiveMQ Classic's
// failover:(tcp://a:61616,tcp://b:61616)?randomize=false form and Artemis'
// (tcp://a:61616,tcp://b:61616)?ha=true&reconnectAttempts=-1 form, with those
// brokers' option names and defaults. Dial tries every listed broker in each
// round (in order, or shuffled with randomize=true, Classic's default) and
// uses the first that accepts the connection; see Dial for the retries.
//
// # Failover
//
// A failover: URL, or an Artemis URL with ha=true or reconnectAttempts set,
// makes the Conn fail over; a plain tcp:// URL never does (an explicit
// opt-in). When the connection breaks (a read or write error, a heart-beat
// timeout, or an ERROR from the broker), the Conn reconnects with the URL's
// back-off across every known broker, logs in again with the same
// credentials and client id, subscribes again with the same subscription
// ids and headers, and resends every persistent send not yet confirmed, in
// the original order and with the same duplicate id, so a broker that
// stored the message before the break drops the copy and just confirms it.
// Calls waiting in Send, Flush or Receive keep waiting and then succeed; the
// failover does not show in their results. Because a tandem live broker
// advertises its backups (the CONNECTED header tandem-backups), a URL
// naming only the live, such as failover:(tcp://live:61616), is enough.
//
// What cannot cross a failover: a message received before it cannot be
// acknowledged after it (Ack returns nil and sends nothing; the broker
// redelivers the message, so delivery is at least once), and a transaction
// open across it was rolled back by the broker (Commit returns an error
// wrapping ErrTxRolledBack). WithEventHandler and WithLogger report each
// step as an Event. When the URL's attempts run out, the Conn stops with an
// error wrapping ErrReconnectFailed.
//
// # Destinations
//
// Destinations may be written the way ActiveMQ tools write them or the way
// STOMP does: queue://X and a bare X mean the queue X (/queue/X on the wire),
// topic://X means the topic X (/topic/X), and a name that starts with a slash,
// such as /queue/X or /topic/X, is passed to the broker unchanged. See
// NormalizeDestination.
//
// # Delivery guarantees
//
// Sends are persistent by default and confirmed by the broker with a STOMP
// receipt: by default Send returns only once the broker has the message. With
// WithSendWindow(n) up to n persistent sends may be unconfirmed at once; Send
// then returns as soon as the window has room, and a failure surfaces on a
// later Send, Flush or Close. Every message carries a duplicate-detection id
// (header _AMQ_DUPL_ID) so that a resend never makes a second copy.
//
// Without failover, a lost connection stops the Conn with an error wrapping
// ErrConnectionLost.
//
// Every method of Conn, Subscription, Message and Tx is safe for concurrent
// use.
package client
