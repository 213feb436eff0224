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
// brokers' option names and defaults. Dial tries the listed brokers in order
// and uses the first that accepts the connection.
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
// The Conn keeps its subscriptions and unconfirmed sends in client-side state
// so that a later version can reconnect underneath them (failover); this
// version reports a lost connection as an error wrapping ErrConnectionLost.
//
// Every method of Conn, Subscription, Message and Tx is safe for concurrent
// use.
package client
