// Package mqtt is a small MQTT 3.1.1 and 5.0 client for Go programs and
// for tandem's own producer, consumer and perf commands. It speaks to any
// MQTT broker: QoS 0, 1 and 2 in both directions, MQTT 5 properties,
// clean or persistent sessions, TLS.
//
//	c, err := mqtt.Dial(ctx, "tcp://localhost:1883", mqtt.Options{ClientID: "app", Version: mqtt.V5})
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Publish(ctx, &mqtt.Message{Topic: "orders/eu", Payload: []byte("hello"), QoS: 1})
//	_, err = c.Subscribe(ctx, mqtt.Subscription{Filter: "orders/#", QoS: 1})
//	m, err := c.Receive(ctx)
//	err = m.Ack()
//
// Publish returns once the broker acknowledged the message (PUBACK, or
// PUBCOMP at QoS 2); PublishAsync sends without waiting, at most the
// broker's Receive Maximum at a time, and reports each acknowledgement to
// a callback, which is how a producer keeps many messages in flight.
// Received QoS 1 and 2 messages are acknowledged by Message.Ack (QoS 2
// duplicates with a packet identifier not yet released are dropped, so an
// application sees a QoS 2 message once); with Options.AutoAck they are
// acknowledged as Receive returns them.
//
// The client does not reconnect by itself: a broken connection ends
// Receive and the calls waiting for acknowledgements with an error
// wrapping ErrClosed. Dial again with CleanStart false to continue a
// persistent session.
//
// The package imports only tandem's MQTT codec (internal/wire/mqtt) and
// TLS option parsing; nothing of the server.
package mqtt
