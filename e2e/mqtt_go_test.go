package e2e

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	pahogo "github.com/eclipse/paho.mqtt.golang"
)

// pahoClient connects an eclipse/paho.mqtt.golang client (MQTT 3.1.1).
func pahoClient(t *testing.T, broker, id string, keepAlive time.Duration, lost func(error)) pahogo.Client {
	t.Helper()
	o := pahogo.NewClientOptions().AddBroker(broker).SetClientID(id).SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(keepAlive).SetPingTimeout(2 * time.Second).
		SetOrderMatters(false)
	if lost != nil {
		o.SetConnectionLostHandler(func(_ pahogo.Client, err error) { lost(err) })
	}
	c := pahogo.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect to %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func pahoWait(t *testing.T, tok pahogo.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: %v", what, tok.Error())
	}
}

// TestPahoGo runs eclipse/paho.mqtt.golang v1.5.1 (MQTT 3.1.1) over TCP
// and over ws:// on both ports: every QoS each way, a client id takeover,
// and keep-alive.
func TestPahoGo(t *testing.T) {
	in := create(t, "pahogo")
	start(t, in)
	waitListening(t, in.addr(), 20*time.Second)
	for name, url := range map[string]string{
		"tcp":              "tcp://127.0.0.1:" + in.mqttPort(),
		"ws client port":   "ws://127.0.0.1:" + in.mqttPort() + "/mqtt",
		"ws the HTTP port": fmt.Sprintf("ws://127.0.0.1:%d/mqtt", 8161+in.offset),
	} {
		t.Run(name, func(t *testing.T) {
			got := make(chan pahogo.Message, 10)
			sub := pahoClient(t, url, "go-sub", 30*time.Second, nil)
			pahoWait(t, sub.Subscribe("go/+/x", 2, func(_ pahogo.Client, m pahogo.Message) { got <- m }), "subscribe")
			pub := pahoClient(t, url, "go-pub", 30*time.Second, nil)
			for q := byte(0); q <= 2; q++ {
				pahoWait(t, pub.Publish("go/q/x", q, false, fmt.Sprintf("qos %d", q)), "publish")
			}
			seen := map[string]byte{}
			for i := 0; i < 3; i++ {
				select {
				case m := <-got:
					if m.Topic() != "go/q/x" {
						t.Fatalf("topic %q", m.Topic())
					}
					seen[string(m.Payload())] = m.Qos()
				case <-time.After(10 * time.Second):
					t.Fatalf("got %v of 3 messages", seen)
				}
			}
			for q := byte(0); q <= 2; q++ {
				if seen[fmt.Sprintf("qos %d", q)] != q {
					t.Fatalf("got %v, want each message at its QoS", seen)
				}
			}
		})
	}

	t.Run("client id takeover", func(t *testing.T) {
		url := "tcp://127.0.0.1:" + in.mqttPort()
		lost := make(chan error, 1)
		first := pahoClient(t, url, "go-twin", 30*time.Second, func(err error) { lost <- err })
		got := make(chan pahogo.Message, 10)
		pahoWait(t, first.Subscribe("twin", 1, nil), "subscribe")
		second := pahoClient(t, url, "go-twin", 30*time.Second, nil)
		select {
		case err := <-lost:
			t.Logf("the first connection was closed: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("the first connection with the client id was not closed")
		}
		pahoWait(t, second.Subscribe("twin", 1, func(_ pahogo.Client, m pahogo.Message) { got <- m }), "subscribe")
		pub := pahoClient(t, url, "go-twin-pub", 30*time.Second, nil)
		pahoWait(t, pub.Publish("twin", 1, false, "to the second"), "publish")
		select {
		case m := <-got:
			if string(m.Payload()) != "to the second" {
				t.Fatalf("got %q", m.Payload())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the second connection got nothing")
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		// paho pings every second; the connection outlives many periods
		// without traffic.
		var mu sync.Mutex
		var lostErr error
		c := pahoClient(t, "tcp://127.0.0.1:"+in.mqttPort(), "go-pinger", time.Second, func(err error) {
			mu.Lock()
			lostErr = err
			mu.Unlock()
		})
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			err := lostErr
			mu.Unlock()
			if err != nil {
				t.Fatalf("a client that pings lost its connection: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !c.IsConnectionOpen() {
			t.Fatal("the connection closed")
		}
		// A client that asks for a 1 s keep-alive and then says nothing is
		// closed after 1.5 s.
		nc, err := net.Dial("tcp", in.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// CONNECT 3.1.1, keep-alive 1 s, client id "silent".
		if _, err := nc.Write([]byte{0x10, 0x12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 1, 0, 6, 's', 'i', 'l', 'e', 'n', 't'}); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		n, err := nc.Read(buf) // CONNACK
		if err != nil || n < 4 || buf[0] != 0x20 || buf[3] != 0 {
			t.Fatalf("CONNACK % x, %v", buf[:n], err)
		}
		if _, err := nc.Read(buf); err == nil {
			t.Fatal("the silent client got data, not a close")
		}
		if e := time.Since(began); e < 1400*time.Millisecond || e > 8*time.Second {
			t.Fatalf("the silent client was closed after %v, want about 1.5 s", e)
		}
	})
}
