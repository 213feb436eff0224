// Package openwire is a small Go client for OpenWire, the protocol of
// ActiveMQ Classic's JMS client, built on tandem's codec
// (internal/wire/openwire) and nothing else of tandem's. It speaks to tandem
// and to ActiveMQ Classic alike, and is what `tandem producer`, `consumer`
// and `browse` use with --protocol openwire (`tandem perf`, which needs the
// outcome of every single send, speaks the codec directly).
//
//	c, err := openwire.Dial(ctx, "tcp://localhost:61616", openwire.Options{User: "admin", Password: "admin"})
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Send(ctx, "queue://TEST", []byte("hello"), openwire.SendOptions{Text: true})
//	sub, err := c.Subscribe(ctx, "queue://TEST", openwire.SubscribeOptions{Prefetch: 100})
//	m, err := sub.Receive(ctx)
//	err = m.Ack(ctx)
//
// It covers what a command-line tool and a load generator need: persistent
// and non-persistent sends (confirmed one at a time, or with a window of
// unconfirmed sends that Flush waits for), text and bytes messages with
// properties, consumers with a prefetch, individual acknowledgements
// (delivered acks keep the prefetch flowing while a transaction holds
// messages), durable topic subscriptions, queue browsers and local
// transactions.
//
// URLs are tcp://host:port, or ActiveMQ's failover:(tcp://a:61616,tcp://b:61616)
// form, whose brokers Dial tries in order until one accepts. A Conn does not
// reconnect once connected: a broken connection fails its calls with the
// cause (the JMS client's failover transport, with its state replay, is not
// reproduced here). TLS is not supported.
package openwire
