// Command capture records the golden files of internal/wire/mqtt from real
// MQTT clients. It runs a small fake server on a loopback port, points one
// client command at it per scenario, and saves the bytes each client sent
// (<scenario>.c2s) and the bytes the server sent back (<scenario>.s2c),
// with a manifest describing them. See README.md.
//
// The client's bytes are recorded raw, before tandem's codec sees them; the
// codec then decodes them to decide the answer, and any packet it refuses
// is reported. The server's bytes are written by tandem's codec and kept
// only if the client showed, in its output, that it understood them.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tandem/internal/wire/mqtt"
)

// Entry describes one scenario's files in manifest.json.
type Entry struct {
	Name    string `json:"name"`
	Client  string `json:"client"`
	Command string `json:"command"`
	Version int    `json:"version"`
	C2S     string `json:"c2s"`
	S2C     string `json:"s2c"`
	// Expect lists what the client printed that shows it understood the
	// server's packets.
	Expect []string `json:"expect,omitempty"`
}

type scenario struct {
	name    string
	client  string
	version mqtt.Version
	args    func(port int) []string
	// deliver returns what the server sends after answering a SUBSCRIBE.
	deliver func(s *mqtt.Subscribe) []mqtt.Packet
	expect  []string
}

const (
	mosquittoPub = "mosquitto_pub 2.0.11 (Debian mosquitto-clients)"
	mosquittoSub = "mosquitto_sub 2.0.11 (Debian mosquitto-clients)"
	paho         = "paho-mqtt 1.6.1 (Debian python3-paho-mqtt, /usr/bin/python3)"
)

func mosq(tool string, v string, extra ...string) func(int) []string {
	return func(port int) []string {
		return append([]string{tool, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-V", v}, extra...)
	}
}

func python(script string, dir string) func(int) []string {
	return func(port int) []string {
		return []string{"/usr/bin/python3", filepath.Join(dir, script), strconv.Itoa(port)}
	}
}

func scenarios(dir string) []scenario {
	return []scenario{
		{name: "v311-pub-qos0", client: mosquittoPub, version: mqtt.V311,
			args: mosq("mosquitto_pub", "mqttv311", "-i", "pub-a", "-k", "30", "-t", "sensors/room1/temp", "-m", "21.5")},
		{name: "v311-pub-qos1-will-login-retain", client: mosquittoPub, version: mqtt.V311,
			args: mosq("mosquitto_pub", "mqttv311", "-i", "pub-b", "-u", "alice", "-P", "s3cret",
				"--will-topic", "clients/pub-b/status", "--will-payload", "offline", "--will-qos", "1", "--will-retain",
				"-r", "-q", "1", "-t", "state/lamp", "-m", "on")},
		{name: "v311-pub-qos2-persistent", client: mosquittoPub, version: mqtt.V311,
			args: mosq("mosquitto_pub", "mqttv311", "-i", "pub-c", "-c", "-q", "2", "-t", "orders/eu/1", "-m", "exactly once")},
		{name: "v31-pub-qos1", client: mosquittoPub, version: mqtt.V31,
			args: mosq("mosquitto_pub", "mqttv31", "-i", "pub-d", "-q", "1", "-t", "legacy/topic", "-m", "hello")},
		{name: "v5-pub-qos1-properties", client: mosquittoPub, version: mqtt.V5,
			args: mosq("mosquitto_pub", "mqttv5", "-i", "pub-e", "-q", "1", "-t", "sensors/room1/temp", "-m", `{"t":21.5}`,
				"-D", "connect", "session-expiry-interval", "3600",
				"-D", "connect", "receive-maximum", "20",
				"-D", "connect", "maximum-packet-size", "1048576",
				"-D", "connect", "topic-alias-maximum", "5",
				"-D", "connect", "request-problem-information", "1",
				"-D", "connect", "request-response-information", "1",
				"-D", "connect", "user-property", "client", "mosquitto",
				"-D", "publish", "message-expiry-interval", "60",
				"-D", "publish", "content-type", "application/json",
				"-D", "publish", "response-topic", "replies/pub-e",
				"-D", "publish", "correlation-data", "req-42",
				"-D", "publish", "payload-format-indicator", "1",
				"-D", "publish", "user-property", "k", "v1",
				"-D", "publish", "user-property", "k", "v2",
				"-D", "publish", "user-property", "other", "x")},
		{name: "v5-pub-qos2-will-properties", client: mosquittoPub, version: mqtt.V5,
			args: mosq("mosquitto_pub", "mqttv5", "-i", "pub-f", "-u", "bob", "-P", "pw", "-x", "120",
				"--will-topic", "clients/pub-f/status", "--will-payload", "gone", "--will-qos", "2", "--will-retain",
				"-D", "will", "will-delay-interval", "10",
				"-D", "will", "message-expiry-interval", "300",
				"-D", "will", "content-type", "text/plain",
				"-D", "will", "payload-format-indicator", "1",
				"-D", "will", "response-topic", "replies/will",
				"-D", "will", "correlation-data", "c1",
				"-D", "will", "user-property", "why", "crash",
				"-D", "disconnect", "user-property", "bye", "now",
				"-r", "-q", "2", "-t", "orders/eu/2", "-m", "exactly once, v5")},
		{name: "v5-pub-empty-retained-no-id", client: mosquittoPub, version: mqtt.V5,
			args: mosq("mosquitto_pub", "mqttv5", "-r", "-n", "-q", "1", "-t", "state/lamp")},
		{name: "v5-pub-topic-alias", client: mosquittoPub, version: mqtt.V5,
			args: mosq("mosquitto_pub", "mqttv5", "-i", "pub-h", "-t", "very/long/topic/name/for/aliasing", "-m", "x",
				"-D", "publish", "topic-alias", "1", "--repeat", "3")},
		{name: "v311-sub", client: mosquittoSub, version: mqtt.V311,
			args: mosq("mosquitto_sub", "mqttv311", "-i", "sub-a", "-c", "-q", "2", "-t", "sensors/+/temp", "-t", "alerts/#",
				"-C", "3", "-F", "%t|%q|%r|%p"),
			deliver: func(*mqtt.Subscribe) []mqtt.Packet {
				return []mqtt.Packet{
					&mqtt.Publish{Topic: "sensors/a/temp", Payload: []byte("one")},
					&mqtt.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "sensors/b/temp", Payload: []byte("two")},
					&mqtt.Publish{QoS: 2, PacketID: 2, Topic: "alerts/fire", Payload: []byte("three")},
				}
			},
			expect: []string{"sensors/a/temp|0|0|one", "sensors/b/temp|1|1|two", "alerts/fire|2|0|three"}},
		{name: "v5-sub", client: mosquittoSub, version: mqtt.V5,
			args: mosq("mosquitto_sub", "mqttv5", "-i", "sub-b", "-q", "2", "-x", "60",
				"-t", "sensors/#", "-t", "$share/group/jobs/+", "--retain-as-published", "-U", "old/topic",
				"-D", "connect", "topic-alias-maximum", "4",
				"-D", "connect", "receive-maximum", "10",
				"-D", "subscribe", "user-property", "sub", "yes",
				"-D", "unsubscribe", "user-property", "unsub", "yes",
				"-C", "3", "-F", "%t|%q|%r|%P|%S|%C|%E|%F|%R|%D|%p"),
			deliver: func(s *mqtt.Subscribe) []mqtt.Packet {
				return []mqtt.Packet{
					&mqtt.Publish{QoS: 1, PacketID: 1, Topic: "sensors/a/temp", Payload: []byte("p1"),
						Properties: mqtt.Properties{
							mqtt.IntProp(mqtt.PropTopicAlias, 1),
							mqtt.IntProp(mqtt.PropPayloadFormat, 1),
							mqtt.IntProp(mqtt.PropMessageExpiry, 30),
							mqtt.StringProp(mqtt.PropContentType, "text/plain"),
							mqtt.StringProp(mqtt.PropResponseTopic, "replies/x"),
							mqtt.BinaryProp(mqtt.PropCorrelationData, []byte("c-1")),
							mqtt.UserProp("k", "v1"), mqtt.UserProp("k", "v2"),
						}},
					// libmosquitto 2.0.11 refuses a PUBLISH with an empty
					// topic even with a known alias, so this one repeats
					// the topic with the alias (which updates the mapping).
					&mqtt.Publish{QoS: 2, PacketID: 2, Retain: true, Topic: "sensors/b/temp", Payload: []byte("p2"),
						Properties: mqtt.Properties{mqtt.IntProp(mqtt.PropTopicAlias, 1)}},
					&mqtt.Publish{Topic: "jobs/7", Payload: []byte("p3")},
				}
			},
			expect: []string{"sensors/a/temp|1|0|k:v1 k:v2||text/plain|30|1|replies/x|c-1|p1", "sensors/b/temp|2|1|", "jobs/7|0|0|"}},
		{name: "paho-v5", client: paho, version: mqtt.V5, args: python("paho_v5.py", dir),
			deliver: func(s *mqtt.Subscribe) []mqtt.Packet {
				if s.Subscriptions[0].Filter != "$share/g/jobs/#" {
					return nil
				}
				return []mqtt.Packet{
					&mqtt.Publish{QoS: 1, PacketID: 1, Topic: "sensors/a/temp", Payload: []byte("m1"),
						Properties: mqtt.Properties{
							mqtt.IntProp(mqtt.PropTopicAlias, 2),
							mqtt.IntProp(mqtt.PropSubscriptionID, 42), mqtt.IntProp(mqtt.PropSubscriptionID, 44),
							mqtt.UserProp("k", "v1"), mqtt.UserProp("k", "v2"),
						}},
					&mqtt.Publish{QoS: 2, PacketID: 2, Retain: true, Payload: []byte("m2"),
						Properties: mqtt.Properties{
							mqtt.IntProp(mqtt.PropTopicAlias, 2),
							mqtt.IntProp(mqtt.PropSubscriptionID, 42), mqtt.IntProp(mqtt.PropSubscriptionID, 44),
						}},
					&mqtt.Publish{QoS: 1, PacketID: 3, Topic: "jobs/7", Payload: []byte("m3"),
						Properties: mqtt.Properties{
							mqtt.IntProp(mqtt.PropSubscriptionID, 43),
							mqtt.IntProp(mqtt.PropPayloadFormat, 1),
							mqtt.IntProp(mqtt.PropMessageExpiry, 90),
							mqtt.StringProp(mqtt.PropContentType, "text/plain"),
							mqtt.StringProp(mqtt.PropResponseTopic, "replies/jobs"),
							mqtt.BinaryProp(mqtt.PropCorrelationData, []byte{0, 1, 2}),
						}},
				}
			},
			expect: []string{
				"MSG sensors/a/temp 1 0 m1 [42, 44] [('k', 'v1'), ('k', 'v2')]",
				// paho 1.6.1 does not map the aliases a server sends: it
				// hands the empty topic to the application.
				"MSG  2 1 m2 [42, 44] None",
				"MSG jobs/7 1 0 m3 [43] None text/plain replies/jobs 000102 1 90",
				"UNSUBACK ['Success', 'No subscription found']",
			}},
		{name: "paho-v5-takeover", client: paho, version: mqtt.V5, args: python("paho_v5_takeover.py", dir),
			deliver: func(*mqtt.Subscribe) []mqtt.Packet {
				return []mqtt.Packet{&mqtt.Disconnect{Reason: mqtt.SessionTakenOver,
					Properties: mqtt.Properties{mqtt.StringProp(mqtt.PropReasonString, "another connection uses client id paho5t")}}}
			},
			expect: []string{"DISCONNECT Session taken over"}},
		{name: "paho-v311", client: paho, version: mqtt.V311, args: python("paho_v311.py", dir),
			deliver: func(*mqtt.Subscribe) []mqtt.Packet {
				return []mqtt.Packet{
					&mqtt.Publish{QoS: 1, PacketID: 1, Topic: "a/x", Payload: []byte("q1")},
					&mqtt.Publish{QoS: 2, PacketID: 2, Topic: "b/y/z", Payload: []byte("q2")},
				}
			},
			expect: []string{"MSG a/x 1 q1", "MSG b/y/z 2 q2"}},
	}
}

func main() {
	out := flag.String("out", "internal/wire/mqtt/testdata/golden", "directory for the golden files")
	only := flag.String("only", "", "run only the scenario of this name")
	scripts := flag.String("scripts", "internal/wire/mqtt/testdata/capture", "directory of the paho scripts")
	flag.Parse()
	dir := *scripts
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	var manifest []Entry
	failed := false
	for _, sc := range scenarios(dir) {
		if *only != "" && sc.name != *only {
			continue
		}
		e, err := run(sc, *out)
		if err != nil {
			log.Printf("%s: %v", sc.name, err)
			failed = true
			continue
		}
		log.Printf("%s: ok (%s)", sc.name, e.Command)
		manifest = append(manifest, e)
	}
	if failed {
		os.Exit(1)
	}
	if *only != "" {
		return
	}
	b, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}

// run serves one client connection for the scenario and saves its bytes.
func run(sc scenario, out string) (Entry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Entry{}, err
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	args := sc.args(port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return Entry{}, err
	}
	type result struct {
		c2s, s2c []byte
		err      error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c2s, s2c, err := serve(c, sc)
		done <- result{c2s, s2c, err}
	}()
	werr := cmd.Wait()
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		return Entry{}, fmt.Errorf("the server did not finish; client output:\n%s%s", stdout.String(), stderr.String())
	}
	if res.err != nil {
		return Entry{}, fmt.Errorf("server: %w; client output:\n%s%s", res.err, stdout.String(), stderr.String())
	}
	if werr != nil {
		return Entry{}, fmt.Errorf("client: %w; output:\n%s%s", werr, stdout.String(), stderr.String())
	}
	for _, want := range sc.expect {
		if !strings.Contains(stdout.String(), want) {
			return Entry{}, fmt.Errorf("the client's output lacks %q:\n%s%s", want, stdout.String(), stderr.String())
		}
	}
	e := Entry{Name: sc.name, Client: sc.client, Version: int(sc.version),
		Command: strings.Join(redactPort(args, port), " "), C2S: sc.name + ".c2s", S2C: sc.name + ".s2c", Expect: sc.expect}
	if err := os.WriteFile(filepath.Join(out, e.C2S), res.c2s, 0o644); err != nil {
		return Entry{}, err
	}
	if err := os.WriteFile(filepath.Join(out, e.S2C), res.s2c, 0o644); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func redactPort(args []string, port int) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == strconv.Itoa(port) {
			a = "$PORT"
		}
		if strings.Contains(a, "/testdata/capture/") {
			a = filepath.Base(a)
		}
		if strings.ContainsAny(a, " |{}\"$#") && a != "$PORT" {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

// serve answers one client as a minimal broker would, recording both
// directions. It returns when the client disconnects.
func serve(c net.Conn, sc scenario) (c2s, s2c []byte, err error) {
	_ = c.SetDeadline(time.Now().Add(25 * time.Second))
	br := bufio.NewReader(c)
	var sent bytes.Buffer
	w := mqtt.NewWriter(io.MultiWriter(c, &sent))
	var feed bytes.Buffer
	r := mqtt.NewReader(&feed, mqtt.ReaderOptions{})
	var got bytes.Buffer
	for {
		frame, err := readFrame(br)
		if errors.Is(err, io.EOF) {
			return got.Bytes(), sent.Bytes(), nil
		}
		if err != nil {
			return nil, nil, err
		}
		got.Write(frame)
		feed.Write(frame)
		p, err := r.ReadPacket()
		if err != nil {
			return nil, nil, fmt.Errorf("tandem's codec refused %x: %w", frame, err)
		}
		var replies []mqtt.Packet
		switch p := p.(type) {
		case *mqtt.Connect:
			w.SetVersion(p.Version)
			replies = append(replies, connack(p))
		case *mqtt.Publish:
			switch p.QoS {
			case 1:
				replies = append(replies, &mqtt.Puback{PacketID: p.PacketID})
			case 2:
				replies = append(replies, &mqtt.Pubrec{PacketID: p.PacketID})
			}
		case *mqtt.Pubrel:
			replies = append(replies, &mqtt.Pubcomp{PacketID: p.PacketID})
		case *mqtt.Pubrec:
			replies = append(replies, &mqtt.Pubrel{PacketID: p.PacketID})
		case *mqtt.Subscribe:
			ack := &mqtt.Suback{PacketID: p.PacketID}
			for _, s := range p.Subscriptions {
				ack.Reasons = append(ack.Reasons, mqtt.ReasonCode(s.QoS))
			}
			replies = append(replies, ack)
			if sc.deliver != nil {
				replies = append(replies, sc.deliver(p)...)
			}
		case *mqtt.Unsubscribe:
			ack := &mqtt.Unsuback{PacketID: p.PacketID}
			if p2 := r.Version(); p2 == mqtt.V5 {
				for i := range p.Filters {
					code := mqtt.Success
					if i > 0 {
						code = mqtt.NoSubscriptionExisted
					}
					ack.Reasons = append(ack.Reasons, code)
				}
			}
			replies = append(replies, ack)
		case *mqtt.Pingreq:
			replies = append(replies, &mqtt.Pingresp{})
		case *mqtt.Disconnect:
			return got.Bytes(), sent.Bytes(), nil
		}
		for _, rp := range replies {
			if err := w.WritePacket(rp); err != nil {
				return nil, nil, fmt.Errorf("writing %v: %w", rp.Type(), err)
			}
		}
		if err := w.Flush(); err != nil {
			return nil, nil, err
		}
		for _, rp := range replies {
			if _, ok := rp.(*mqtt.Disconnect); ok {
				// The server ends the connection; wait for the client
				// to close its end.
				_, _ = io.Copy(io.Discard, br)
				return got.Bytes(), sent.Bytes(), nil
			}
		}
	}
}

func connack(c *mqtt.Connect) *mqtt.Connack {
	ack := &mqtt.Connack{SessionPresent: false}
	if c.Version != mqtt.V5 {
		return ack
	}
	if c.ClientID == "" {
		ack.Properties.Add(mqtt.StringProp(mqtt.PropAssignedClientID, "tandem-assigned-1"))
	}
	ack.Properties = append(ack.Properties,
		mqtt.IntProp(mqtt.PropReceiveMaximum, 100),
		mqtt.IntProp(mqtt.PropTopicAliasMaximum, 10),
		mqtt.IntProp(mqtt.PropMaximumPacketSize, 1<<20),
		mqtt.IntProp(mqtt.PropRetainAvailable, 1),
		mqtt.IntProp(mqtt.PropWildcardSubAvailable, 1),
		mqtt.IntProp(mqtt.PropSubscriptionIDAvailable, 1),
		mqtt.IntProp(mqtt.PropSharedSubAvailable, 1),
		mqtt.UserProp("server", "tandem-capture"),
	)
	return ack
}

// readFrame reads one packet's bytes without interpreting them: the first
// byte, the remaining length and that many bytes.
func readFrame(br *bufio.Reader) ([]byte, error) {
	b0, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	frame := []byte{b0}
	n, shift := 0, 0
	for i := 0; ; i++ {
		c, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("remaining length: %w", err)
		}
		frame = append(frame, c)
		n |= int(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			break
		}
		if i == 3 {
			return nil, fmt.Errorf("remaining length longer than four bytes: %x", frame)
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, fmt.Errorf("body of %x: %w", frame, err)
	}
	return append(frame, body...), nil
}
