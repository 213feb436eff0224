// Package amqp is tandem's small AMQP 1.0 client: what the tandem
// producer, consumer, browse and perf commands need to speak AMQP to
// tandem, to Artemis or to any AMQP 1.0 broker. It is built on the codec of
// internal/wire/amqp and nothing else of tandem.
//
// A program dials a URL, attaches senders and receivers, and settles what
// it receives:
//
//	c, err := amqp.Dial(ctx, "amqp://localhost:61616", amqp.Options{User: "admin", Password: "admin"})
//	s, err := c.NewSender(ctx, "queue://orders", amqp.SenderOptions{})
//	err = s.Send(ctx, &amqp.Message{Body: []byte("hello"), Durable: true})
//	r, err := c.NewReceiver(ctx, "queue://orders", amqp.ReceiverOptions{Credit: 10})
//	d, err := r.Receive(ctx)
//	err = d.Accept()
//
// One connection carries one session. A send waits for the broker's
// outcome (accepted, or the rejection as an error) unless the sender is
// pre-settled; SendAsync hands the outcome to a callback, so a producer can
// keep a window of unconfirmed sends. Receivers get link credit as they
// are read. Transactions go through the broker's coordinator (Declare).
//
// Destinations: queue://X and topic://X name the address X with the
// capability queue or topic (Artemis' and tandem's mapping), a bare name
// is an address without capabilities, and a name starting with "/"
// (RabbitMQ's /queue/X, /exchange/X) goes to the broker unchanged.
//
// A failover URL (failover:(tcp://a:61616,tcp://b:61616)) is tried in
// order when dialling; the client does not reconnect by itself. The
// broker's failover-server-list is available from FailoverList.
package amqp
