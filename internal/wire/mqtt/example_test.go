package mqtt_test

import (
	"bytes"
	"fmt"
	"io"

	"tandem/internal/wire/mqtt"
)

// Example_server shows the shape of a server connection loop on the codec:
// read packets, answer them through one buffered writer flushed per burst,
// and answer bad input with the CONNACK or DISCONNECT the error calls for.
func Example_server() {
	// What a client sends: CONNECT (5.0), a QoS 1 PUBLISH, then a PUBLISH
	// whose topic has a wildcard.
	var in bytes.Buffer
	client := mqtt.NewWriter(&in)
	_ = client.WritePacket(&mqtt.Connect{Version: mqtt.V5, CleanStart: true, ClientID: "c1"})
	_ = client.WritePacket(&mqtt.Publish{QoS: 1, PacketID: 7, Topic: "sensors/a.b/temp", Payload: []byte("21.5")})
	_ = client.Flush()
	in.Write([]byte{0x30, 0x06, 0x00, 0x03, 'a', '/', '#', 0x00})

	var out bytes.Buffer
	r := mqtt.NewReader(&in, mqtt.ReaderOptions{MaxPacketSize: 1 << 20})
	w := mqtt.NewWriter(&out)
	aliases := mqtt.NewInboundAliases(10)
	for {
		p, err := r.ReadPacket()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("bad input:", err)
			if ack, v, ok := mqtt.ConnackFor(err); ok {
				w.SetVersion(v)
				_ = w.WritePacket(ack)
			} else if d, ok := mqtt.DisconnectFor(err); ok {
				_ = w.WritePacket(d)
			}
			break
		}
		switch p := p.(type) {
		case *mqtt.Connect:
			w.SetVersion(p.Version)
			_ = w.WritePacket(&mqtt.Connack{Properties: mqtt.Properties{
				mqtt.IntProp(mqtt.PropTopicAliasMaximum, uint32(aliases.Max()))}})
		case *mqtt.Publish:
			if err := aliases.Resolve(p); err != nil {
				fmt.Println(err)
				return
			}
			fmt.Printf("PUBLISH %s to address %s\n", p.Topic, mqtt.TopicToAddress(p.Topic))
			_ = w.WritePacket(&mqtt.Puback{PacketID: p.PacketID})
		}
	}
	_ = w.Flush()
	fmt.Printf("answered % x\n", out.Bytes())
	// Output:
	// PUBLISH sensors/a.b/temp to address sensors.a\.b.temp
	// bad input: mqtt: protocol error: PUBLISH: the topic name "a/#" contains a wildcard
	// answered 20 06 00 00 03 22 00 0a 40 02 00 07 e0 01 90
}

// Example_client shows the client side: the writer takes its version from
// the CONNECT it writes, and the client's reader is told the same version.
func Example_client() {
	var toServer, fromServer bytes.Buffer
	w := mqtt.NewWriter(&toServer)
	_ = w.WritePacket(&mqtt.Connect{Version: mqtt.V5, CleanStart: true, ClientID: "consumer-1", KeepAlive: 30})
	_ = w.WritePacket(&mqtt.Subscribe{PacketID: 1,
		Properties:    mqtt.Properties{mqtt.IntProp(mqtt.PropSubscriptionID, 5)},
		Subscriptions: []mqtt.Subscription{{Filter: "orders/#", QoS: 1}}})
	_ = w.Flush()
	fmt.Println("looks like MQTT:", mqtt.Detect(toServer.Bytes()) == mqtt.IsMQTT)

	// What a server might answer.
	s := mqtt.NewWriter(&fromServer)
	s.SetVersion(mqtt.V5)
	_ = s.WritePacket(&mqtt.Connack{})
	_ = s.WritePacket(&mqtt.Suback{PacketID: 1, Reasons: []mqtt.ReasonCode{mqtt.GrantedQoS1}})
	_ = s.WritePacket(&mqtt.Publish{QoS: 1, PacketID: 9, Topic: "orders/eu/1", Payload: []byte("hello"),
		Properties: mqtt.Properties{mqtt.IntProp(mqtt.PropSubscriptionID, 5)}})
	_ = s.Flush()

	r := mqtt.NewReader(&fromServer, mqtt.ReaderOptions{Role: mqtt.ClientSide, Version: w.Version()})
	for {
		p, err := r.ReadPacket()
		if err != nil {
			break
		}
		switch p := p.(type) {
		case *mqtt.Connack:
			fmt.Println("connected:", p.Reason)
		case *mqtt.Suback:
			fmt.Println("granted:", p.Reasons)
		case *mqtt.Publish:
			id, _ := p.Properties.Int(mqtt.PropSubscriptionID)
			fmt.Printf("message on %s for subscription %d: %s\n", p.Topic, id, p.Payload)
			_ = w.WritePacket(&mqtt.Puback{PacketID: p.PacketID})
		}
	}
	// Output:
	// looks like MQTT: true
	// connected: success (0x00)
	// granted: [granted QoS 1 (0x01)]
	// message on orders/eu/1 for subscription 5: hello
}
