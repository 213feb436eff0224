package mqtt

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"tandem/internal/broker"
	"tandem/internal/listener"
	wire "tandem/internal/wire/mqtt"
)

func TestConnackTellsAnMQTT5ClientTandemsLimits(t *testing.T) {
	r := newRig(t, func(o *Options, _ *broker.Options) { o.MaxPacketSize = 1 << 20; o.ServerKeepAlive = 30 * time.Second })
	_, ack := r.dial(&wire.Connect{CleanStart: true, KeepAlive: 0})
	if ack.Reason != wire.Success || ack.SessionPresent {
		t.Fatalf("CONNACK %+v", ack)
	}
	want := map[wire.PropID]uint32{wire.PropReceiveMaximum: 100, wire.PropTopicAliasMaximum: 10,
		wire.PropMaximumPacketSize: 1 << 20, wire.PropServerKeepAlive: 30}
	for id, v := range want {
		if got, ok := ack.Properties.Int(id); !ok || got != v {
			t.Errorf("%v = %d (%v), want %d", id, got, ok, v)
		}
	}
	if id, ok := ack.Properties.String(wire.PropAssignedClientID); !ok || id == "" {
		t.Errorf("no Assigned Client Identifier for an empty client id: %v", ack.Properties)
	}
	_, ack3 := r.dial(&wire.Connect{Version: wire.V311, ClientID: "c3", CleanStart: true})
	if ack3.Reason != wire.ConnectionAccepted || len(ack3.Properties) != 0 {
		t.Fatalf("3.1.1 CONNACK %+v", ack3)
	}
}

func TestWildcardDeliveryAtEveryQoSWithUserProperties(t *testing.T) {
	r := newRig(t, nil)
	sub := r.connect(&wire.Connect{ClientID: "sub", CleanStart: true})
	sub.sub(1, wire.QoS2, "sensors/+/temp")
	pub := r.connect(&wire.Connect{ClientID: "pub", CleanStart: true})
	props := []wire.Property{wire.UserProp("unit", "C"), wire.UserProp("site", "a"), wire.UserProp("unit", "K")}
	for qos := wire.QoS0; qos <= wire.QoS2; qos++ {
		pub.pub("sensors/kitchen/temp", qos, uint16(10+qos), "21."+string('0'+byte(qos)), props...)
	}
	pub.pub("sensors/kitchen/humidity", wire.QoS1, 20, "no")
	for qos := wire.QoS0; qos <= wire.QoS2; qos++ {
		p := sub.publish()
		if p.Topic != "sensors/kitchen/temp" || p.QoS != qos || string(p.Payload) != "21."+string('0'+byte(qos)) || p.Dup || p.Retain {
			t.Fatalf("got %+v, want QoS %d", p, qos)
		}
		var got []wire.Property
		for u := range p.Properties.All(wire.PropUser) {
			got = append(got, u)
		}
		if !slices.EqualFunc(got, props, func(a, b wire.Property) bool { return a.Name == b.Name && a.Str == b.Str }) {
			t.Fatalf("user properties %v, want %v in order", got, props)
		}
		sub.ack(p)
	}
	sub.nothing(200 * time.Millisecond)
}

// TestStateQueuesComeWithTheFirstClient: a broker that never served MQTT
// has no $sys.mqtt queues; the first CONNECT creates them.
func TestStateQueuesComeWithTheFirstClient(t *testing.T) {
	r := newRig(t, nil)
	for _, q := range []string{sessionsQueue, qos2Queue, retainQueue} {
		if r.queueDepth(q) != -1 {
			t.Fatalf("%s exists before any MQTT client came", q)
		}
	}
	r.connect(&wire.Connect{ClientID: "first", CleanStart: true})
	for _, q := range []string{sessionsQueue, qos2Queue, retainQueue} {
		if r.queueDepth(q) != 0 {
			t.Fatalf("%s missing after the first CONNECT", q)
		}
	}
}

// TestAConnectionOverTheLimitIsToldWhy: the listener refuses a connection
// past max-connections, and the adapter answers its CONNECT with a CONNACK
// that says so.
func TestAConnectionOverTheLimitIsToldWhy(t *testing.T) {
	r := newRig(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(ln, listener.Options{Protocols: []listener.Protocol{r.srv}, MaxConnections: 1})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
	})
	r.addr = ln.Addr().String()
	r.connect(&wire.Connect{ClientID: "first", CleanStart: true})
	_, ack := r.dial(&wire.Connect{ClientID: "second", CleanStart: true})
	if ack.Reason != wire.QuotaExceeded {
		t.Fatalf("v5 CONNACK %v, want 0x97", ack.Reason)
	}
	if why, _ := ack.Properties.String(wire.PropReasonString); why == "" {
		t.Error("no reason string")
	}
	_, ack = r.dial(&wire.Connect{Version: wire.V311, ClientID: "third", CleanStart: true})
	if ack.Reason != wire.RefusedServerUnavailable {
		t.Fatalf("3.1.1 CONNACK %v, want return code 3", ack.Reason)
	}
}
