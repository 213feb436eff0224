package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"tandem/client"
	mqttc "tandem/client/mqtt"
	mqttwire "tandem/internal/wire/mqtt"
	wire "tandem/internal/wire/stomp"
)

func dialMQTT(t *testing.T, ctx context.Context, in instance, id string, v byte) *mqttc.Client {
	t.Helper()
	c, err := mqttc.Dial(ctx, "tcp://"+in.addr(), mqttc.Options{ClientID: id, Version: mqttwire.Version(v), CleanStart: true,
		Username: "admin", Password: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSTOMPAndMQTTMeetOnOneAddress sends from STOMP to MQTT and from MQTT
// to STOMP and to AMQP on the same addresses (the topic a/b is the
// address a.b) and checks bodies and properties as docs/protocols.md maps
// them.
func TestSTOMPAndMQTTMeetOnOneAddress(t *testing.T) {
	in := create(t, "cross")
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("STOMP to MQTT", func(t *testing.T) {
		m5 := dialMQTT(t, ctx, in, "cross-5", 5)
		m3 := dialMQTT(t, ctx, in, "cross-3", 4)
		for _, c := range []*mqttc.Client{m5, m3} {
			if _, err := c.Subscribe(ctx, mqttc.Subscription{Filter: "cross/stomp", QoS: 1}); err != nil {
				t.Fatal(err)
			}
		}
		s := dialRaw(t, in.addr())
		// No content-length (the codec's writer always adds one, so the
		// frame is written by hand): a text body, as Artemis takes it.
		frame := "SEND\ndestination:/topic/cross.stomp\npersistent:true\ncorrelation-id:corr-1\nreply-to:/topic/replies.x\n" +
			"content-type:text/plain\ncolour:red\nreceipt:r1\n\nhello from STOMP\x00"
		if _, err := s.nc.Write([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		if f := s.next(nil); f.Command != wire.CmdReceipt {
			t.Fatalf("SEND answered with %s", f.Command)
		}
		m, err := m5.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Topic != "cross/stomp" || string(m.Payload) != "hello from STOMP" || m.QoS != 1 {
			t.Fatalf("MQTT 5 got %q on %q at QoS %d", m.Payload, m.Topic, m.QoS)
		}
		want := map[mqttwire.PropID]string{mqttwire.PropContentType: "text/plain", mqttwire.PropResponseTopic: "replies/x"}
		for id, v := range want {
			if got, _ := m.Properties.String(id); got != v {
				t.Errorf("%v = %q, want %q", id, got, v)
			}
		}
		if pf, _ := m.Properties.Int(mqttwire.PropPayloadFormat); pf != 1 {
			t.Errorf("payload format %d, want 1 (text)", pf)
		}
		if cd, _ := m.Properties.Binary(mqttwire.PropCorrelationData); string(cd) != "corr-1" {
			t.Errorf("correlation data %q", cd)
		}
		user := map[string]string{}
		for p := range m.Properties.All(mqttwire.PropUser) {
			user[p.Name] = p.Str
		}
		if user["colour"] != "red" {
			t.Errorf("user properties %v, want colour=red", user)
		}
		m.Ack()
		m, err = m3.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Payload) != "hello from STOMP" || len(m.Properties) != 0 {
			t.Fatalf("MQTT 3.1.1 got %q with %v", m.Payload, m.Properties)
		}
		m.Ack()
	})

	t.Run("MQTT to STOMP", func(t *testing.T) {
		st, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		sub, err := st.Subscribe(ctx, "topic://cross.mqtt")
		if err != nil {
			t.Fatal(err)
		}
		p := dialMQTT(t, ctx, in, "cross-pub", 5)
		body := []byte{0x00, 0xFF, 'b', 'i', 'n', 0x0A}
		err = p.Publish(ctx, &mqttc.Message{Topic: "cross/mqtt", QoS: 1, Payload: body, Properties: mqttwire.Properties{
			mqttwire.UserProp("a", "1"), mqttwire.UserProp("b", "x"), mqttwire.UserProp("a", "2"),
			mqttwire.StringProp(mqttwire.PropContentType, "application/octet-stream"),
			mqttwire.BinaryProp(mqttwire.PropCorrelationData, []byte("corr-2")),
			mqttwire.StringProp(mqttwire.PropResponseTopic, "replies/y"),
			mqttwire.IntProp(mqttwire.PropMessageExpiry, 600)}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := sub.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Body, body) {
			t.Fatalf("body % x, want % x", m.Body, body)
		}
		h := func(k string) string { return m.Header(k) }
		for k, v := range map[string]string{"a": "1", "b": "x", "correlation-id": "corr-2", "reply-to": "/topic/replies.y",
			"content-type": "application/octet-stream", "persistent": "true", "content-length": fmt.Sprint(len(body))} {
			if h(k) != v {
				t.Errorf("header %s = %q, want %q", k, h(k), v)
			}
		}
		var as []string
		for _, kv := range m.Headers {
			if kv.Key == "a" {
				as = append(as, kv.Value)
			}
		}
		if strings.Join(as, ",") != "1,2" {
			t.Errorf("repeated user property a as headers %v, want 1 then 2", as)
		}
		exp, _ := strconv.ParseInt(h("expires"), 10, 64)
		if left := time.Until(time.UnixMilli(exp)); left < 500*time.Second || left > 601*time.Second {
			t.Errorf("expires %s is %v away, want about 600 s", h("expires"), left)
		}
	})

	t.Run("MQTT to AMQP", func(t *testing.T) {
		ac := dialAMQP(t, in.addr(), nil)
		defer ac.Close()
		as, err := ac.NewSession(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		rcv, err := as.NewReceiver(ctx, "cross.amqp", &goamqp.ReceiverOptions{SourceCapabilities: []string{"topic"}})
		if err != nil {
			t.Fatal(err)
		}
		p := dialMQTT(t, ctx, in, "cross-amqp-pub", 5)
		// A text payload (Payload Format Indicator 1) with properties, then
		// bytes.
		err = p.Publish(ctx, &mqttc.Message{Topic: "cross/amqp", QoS: 1, Payload: []byte("héllo from MQTT"),
			Properties: mqttwire.Properties{mqttwire.IntProp(mqttwire.PropPayloadFormat, 1),
				mqttwire.UserProp("colour", "green"), mqttwire.UserProp("n", "7"),
				mqttwire.StringProp(mqttwire.PropContentType, "text/plain"),
				mqttwire.BinaryProp(mqttwire.PropCorrelationData, []byte("corr-3")),
				mqttwire.StringProp(mqttwire.PropResponseTopic, "replies/z")}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(ctx, &mqttc.Message{Topic: "cross/amqp", QoS: 1, Payload: []byte{0, 1, 0xff}}); err != nil {
			t.Fatal(err)
		}
		am, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if am.Value != "héllo from MQTT" || am.ApplicationProperties["colour"] != "green" || am.ApplicationProperties["n"] != "7" {
			t.Errorf("AMQP got value %#v data %q application-properties %v", am.Value, am.GetData(), am.ApplicationProperties)
		}
		if am.Properties == nil || am.Properties.CorrelationID != "corr-3" || am.Properties.ContentType == nil ||
			*am.Properties.ContentType != "text/plain" || am.Properties.ReplyTo == nil || !strings.Contains(*am.Properties.ReplyTo, "replies.z") {
			t.Errorf("AMQP properties %+v", am.Properties)
		}
		if am.Header == nil || !am.Header.Durable {
			t.Errorf("a QoS 1 message is not durable over AMQP: header %+v", am.Header)
		}
		_ = rcv.AcceptMessage(ctx, am)
		am, err = rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(am.GetData(), []byte{0, 1, 0xff}) {
			t.Errorf("AMQP got data %q value %#v; want the bytes as a data section", am.GetData(), am.Value)
		}
		_ = rcv.AcceptMessage(ctx, am)
	})

	t.Run("an MQTT subscriber competes with a STOMP consumer on an anycast queue", func(t *testing.T) {
		st, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		sub, err := st.Subscribe(ctx, "queue://work.items", client.WithAckMode(client.AckClientIndividual), client.WithPrefetch(1))
		if err != nil {
			t.Fatal(err)
		}
		m := dialMQTT(t, ctx, in, "worker", 5)
		if _, err := m.Subscribe(ctx, mqttc.Subscription{Filter: "work/items", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		const n = 30
		for i := 0; i < n; i++ {
			if err := st.Send(ctx, "queue://work.items", []byte(fmt.Sprintf("item-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]string{}
		for len(got) < n {
			rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			if sm, err := sub.Receive(rctx); err == nil {
				if prev, dup := got[string(sm.Body)]; dup {
					t.Fatalf("%s delivered to %s and STOMP", sm.Body, prev)
				}
				got[string(sm.Body)] = "STOMP"
				sm.Ack(ctx)
			}
			if mm, err := m.Receive(rctx); err == nil {
				if prev, dup := got[string(mm.Payload)]; dup {
					t.Fatalf("%s delivered to %s and MQTT", mm.Payload, prev)
				}
				got[string(mm.Payload)] = "MQTT"
				mm.Ack()
			}
			rcancel()
			if ctx.Err() != nil {
				t.Fatalf("got %d of %d", len(got), n)
			}
		}
		byProto := map[string]int{}
		for _, p := range got {
			byProto[p]++
		}
		if byProto["STOMP"] == 0 || byProto["MQTT"] == 0 {
			t.Fatalf("shares %v: both consumers should get some", byProto)
		}
		t.Logf("shares %v", byProto)
	})
}

// TestCLIProducerAndConsumerOverMQTT runs tandem producer and consumer
// with --protocol mqtt: to an anycast queue (which MQTT reaches because it
// exists), from STOMP to MQTT and back, and on a durable subscription of
// a persistent session.
func TestCLIProducerAndConsumerOverMQTT(t *testing.T) {
	in := create(t, "climqtt")
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	mustTandem(t, cli("queue", "create", "--name", "cli.q", "--anycast", "--url", in.url())...)
	r := mustTandem(t, cli("producer", "--protocol", "mqtt", "--url", in.url(), "--destination", "queue://cli.q",
		"--message-count", "200", "--max-pending", "50")...)
	if !strings.Contains(r.stdout, "Produced: 200 messages") || !strings.Contains(r.stdout, "Successfully connected to tcp://") {
		t.Fatalf("producer printed %q", r.stdout)
	}
	r = mustTandem(t, cli("consumer", "--url", in.url(), "--destination", "queue://cli.q", "--message-count", "100")...)
	if !strings.Contains(r.stdout, "Consumed: 100 messages") {
		t.Fatalf("STOMP consumer printed %q", r.stdout)
	}
	r = mustTandem(t, cli("consumer", "--protocol", "mqtt", "--url", in.url(), "--destination", "queue://cli.q",
		"--message-count", "100")...)
	if !strings.Contains(r.stdout, "Consumed: 100 messages") {
		t.Fatalf("MQTT consumer printed %q", r.stdout)
	}

	// A durable subscription: the session keeps collecting while away.
	sub := func(count string) []string {
		return cli("consumer", "--protocol", "mqtt", "--url", in.url(), "--destination", "topic://cli.news",
			"--clientID", "cli-reader", "--durable", "--message-count", count, "--receive-timeout", "500")
	}
	mustTandem(t, sub("1")...) // subscribes, gets nothing, leaves its session
	mustTandem(t, cli("producer", "--protocol", "mqtt", "--url", in.url(), "--destination", "topic://cli.news", "--message-count", "10")...)
	r = mustTandem(t, sub("10")...)
	if !strings.Contains(r.stdout, "Consumed: 10 messages") {
		t.Fatalf("durable MQTT consumer printed %q", r.stdout)
	}
	r = tandem(t, cli("producer", "--protocol", "mqtt", "--url", in.url(), "--commit-interval", "5")...)
	if r.code == 0 || !strings.Contains(r.stderr, "MQTT has no transactions") {
		t.Fatalf("a transacted MQTT producer: exit %d, %q", r.code, r.stderr)
	}
}
