package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// The golden files are byte streams captured from real clients by
// testdata/capture (see its README): <name>.c2s is what the client sent,
// <name>.s2c what tandem's codec sent back and the client understood.

type goldenEntry struct {
	Name    string `json:"name"`
	Client  string `json:"client"`
	Version int    `json:"version"`
	C2S     string `json:"c2s"`
	S2C     string `json:"s2c"`
}

func loadManifest(t testing.TB) []goldenEntry {
	t.Helper()
	b, err := os.ReadFile("testdata/golden/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m []goldenEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatal("empty manifest")
	}
	return m
}

// readStream decodes a whole stream and checks that every packet encodes
// back to exactly the bytes it was read from.
func readStream(t *testing.T, data []byte, opts ReaderOptions) []Packet {
	t.Helper()
	r := NewReader(bytes.NewReader(data), opts)
	var (
		pkts []Packet
		off  int
	)
	for {
		p, err := r.ReadPacket()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("packet %d at offset %d: %v", len(pkts)+1, off, err)
		}
		enc, err := AppendPacket(nil, p, r.Version())
		if err != nil {
			t.Fatalf("packet %d (%v) does not encode: %v", len(pkts)+1, p.Type(), err)
		}
		if end := off + len(enc); end > len(data) || !bytes.Equal(enc, data[off:end]) {
			t.Fatalf("packet %d (%v) re-encodes differently\n got: % x\nwant: % x", len(pkts)+1, p.Type(),
				enc, data[off:min(off+len(enc)+8, len(data))])
		}
		off += len(enc)
		pkts = append(pkts, p)
	}
	if off != len(data) {
		t.Fatalf("decoded %d of %d bytes", off, len(data))
	}
	return pkts
}

func TestGoldenRoundTrip(t *testing.T) {
	for _, e := range loadManifest(t) {
		t.Run(e.Name, func(t *testing.T) {
			c2s, err := os.ReadFile(filepath.Join("testdata/golden", e.C2S))
			if err != nil {
				t.Fatal(err)
			}
			s2c, err := os.ReadFile(filepath.Join("testdata/golden", e.S2C))
			if err != nil {
				t.Fatal(err)
			}
			fromClient := readStream(t, c2s, ReaderOptions{Role: ServerSide})
			fromServer := readStream(t, s2c, ReaderOptions{Role: ClientSide, Version: Version(e.Version)})
			c, ok := fromClient[0].(*Connect)
			if !ok || int(c.Version) != e.Version {
				t.Fatalf("first packet %#v, want a CONNECT of level %d", fromClient[0], e.Version)
			}
			if check, ok := goldenChecks[e.Name]; ok {
				check(t, fromClient, fromServer)
			} else {
				t.Errorf("no content checks for %s", e.Name)
			}
		})
	}
}

// types lists the packet types of a stream.
func types(ps []Packet) []Type {
	ts := make([]Type, len(ps))
	for i, p := range ps {
		ts[i] = p.Type()
	}
	return ts
}

func wantTypes(t *testing.T, what string, ps []Packet, want ...Type) {
	t.Helper()
	if got := types(ps); !slices.Equal(got, want) {
		t.Fatalf("%s: packet types %v, want %v", what, got, want)
	}
}

func userProps(ps Properties) [][2]string {
	var out [][2]string
	for p := range ps.All(PropUser) {
		out = append(out, [2]string{p.Name, p.Str})
	}
	return out
}

func subIDs(ps Properties) []uint32 {
	var out []uint32
	for p := range ps.All(PropSubscriptionID) {
		out = append(out, p.Int)
	}
	return out
}

func wantProp(t *testing.T, ps Properties, id PropID, want any) {
	t.Helper()
	p, ok := ps.Get(id)
	if !ok {
		t.Errorf("%v missing from %v", id, ps)
		return
	}
	var got any
	switch w := want.(type) {
	case string:
		got = p.Str
	case []byte:
		if !bytes.Equal(p.Bin, w) {
			t.Errorf("%v = %q, want %q", id, p.Bin, w)
		}
		return
	default:
		got = p.Int
	}
	if got != want {
		t.Errorf("%v = %v, want %v", id, got, want)
	}
}

var goldenChecks = map[string]func(t *testing.T, c2s, s2c []Packet){
	"v311-pub-qos0": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypePublish, TypeDisconnect)
		c := c2s[0].(*Connect)
		if c.ClientID != "pub-a" || c.KeepAlive != 30 || !c.CleanStart || c.Will != nil || c.HasUsername {
			t.Errorf("CONNECT %+v", c)
		}
		p := c2s[1].(*Publish)
		if p.Topic != "sensors/room1/temp" || p.QoS != 0 || string(p.Payload) != "21.5" || p.PacketID != 0 {
			t.Errorf("PUBLISH %+v", p)
		}
	},
	"v311-pub-qos1-will-login-retain": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypePublish, TypeDisconnect)
		wantTypes(t, "server", s2c, TypeConnack, TypePuback)
		c := c2s[0].(*Connect)
		if !c.HasUsername || c.Username != "alice" || !c.HasPassword || string(c.Password) != "s3cret" {
			t.Errorf("credentials %+v", c)
		}
		w := c.Will
		if w == nil || w.Topic != "clients/pub-b/status" || string(w.Payload) != "offline" || w.QoS != 1 || !w.Retain {
			t.Errorf("will %+v", w)
		}
		p := c2s[1].(*Publish)
		if !p.Retain || p.QoS != 1 || p.PacketID == 0 || p.Topic != "state/lamp" {
			t.Errorf("PUBLISH %+v", p)
		}
	},
	"v311-pub-qos2-persistent": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypePublish, TypePubrel, TypeDisconnect)
		wantTypes(t, "server", s2c, TypeConnack, TypePubrec, TypePubcomp)
		if c2s[0].(*Connect).CleanStart {
			t.Error("-c should clear Clean Session")
		}
		if id := c2s[1].(*Publish).PacketID; id == 0 || c2s[2].(*Pubrel).PacketID != id {
			t.Errorf("PUBREL id %d for PUBLISH %d", c2s[2].(*Pubrel).PacketID, id)
		}
	},
	"v31-pub-qos1": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypePublish, TypeDisconnect)
		if c := c2s[0].(*Connect); c.ProtocolName != ProtocolNameV31 || c.Version != V31 {
			t.Errorf("CONNECT name %q level %d", c.ProtocolName, c.Version)
		}
	},
	"v5-pub-qos1-properties": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypePublish, TypeDisconnect)
		wantTypes(t, "server", s2c, TypeConnack, TypePuback)
		c := c2s[0].(*Connect)
		wantProp(t, c.Properties, PropSessionExpiry, uint32(3600))
		wantProp(t, c.Properties, PropReceiveMaximum, uint32(20))
		wantProp(t, c.Properties, PropMaximumPacketSize, uint32(1048576))
		wantProp(t, c.Properties, PropTopicAliasMaximum, uint32(5))
		wantProp(t, c.Properties, PropRequestProblemInfo, uint32(1))
		wantProp(t, c.Properties, PropRequestResponseInfo, uint32(1))
		if got := userProps(c.Properties); !slices.Equal(got, [][2]string{{"client", "mosquitto"}}) {
			t.Errorf("CONNECT user properties %v", got)
		}
		p := c2s[1].(*Publish)
		wantProp(t, p.Properties, PropMessageExpiry, uint32(60))
		wantProp(t, p.Properties, PropContentType, "application/json")
		wantProp(t, p.Properties, PropResponseTopic, "replies/pub-e")
		wantProp(t, p.Properties, PropCorrelationData, []byte("req-42"))
		wantProp(t, p.Properties, PropPayloadFormat, uint32(1))
		if got := userProps(p.Properties); !slices.Equal(got, [][2]string{{"k", "v1"}, {"k", "v2"}, {"other", "x"}}) {
			t.Errorf("PUBLISH user properties %v, want both k in order, then other", got)
		}
		if string(p.Payload) != `{"t":21.5}` {
			t.Errorf("payload %q", p.Payload)
		}
	},
	"v5-pub-qos2-will-properties": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypePublish, TypePubrel, TypeDisconnect)
		c := c2s[0].(*Connect)
		wantProp(t, c.Properties, PropSessionExpiry, uint32(120))
		w := c.Will
		if w == nil || w.QoS != 2 || !w.Retain || w.Topic != "clients/pub-f/status" {
			t.Fatalf("will %+v", w)
		}
		wantProp(t, w.Properties, PropWillDelay, uint32(10))
		wantProp(t, w.Properties, PropMessageExpiry, uint32(300))
		wantProp(t, w.Properties, PropContentType, "text/plain")
		wantProp(t, w.Properties, PropPayloadFormat, uint32(1))
		wantProp(t, w.Properties, PropResponseTopic, "replies/will")
		wantProp(t, w.Properties, PropCorrelationData, []byte("c1"))
		if got := userProps(w.Properties); !slices.Equal(got, [][2]string{{"why", "crash"}}) {
			t.Errorf("will user properties %v", got)
		}
		d := c2s[3].(*Disconnect)
		if got := userProps(d.Properties); d.Reason != NormalDisconnection || !slices.Equal(got, [][2]string{{"bye", "now"}}) {
			t.Errorf("DISCONNECT %v %v", d.Reason, got)
		}
	},
	"v5-pub-empty-retained-no-id": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypePublish, TypeDisconnect)
		if c := c2s[0].(*Connect); c.ClientID != "" {
			t.Errorf("client id %q, want empty", c.ClientID)
		}
		if p := c2s[1].(*Publish); !p.Retain || len(p.Payload) != 0 {
			t.Errorf("PUBLISH %+v, want a retained empty payload", p)
		}
		wantProp(t, s2c[0].(*Connack).Properties, PropAssignedClientID, "tandem-assigned-1")
	},
	"v5-pub-topic-alias": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypePublish, TypePublish, TypePublish, TypeDisconnect)
		// mosquitto_pub sends the topic with the alias once, then the
		// alias alone.
		in := NewInboundAliases(10)
		for i, p := range c2s[1:4] {
			p := p.(*Publish)
			wantProp(t, p.Properties, PropTopicAlias, uint32(1))
			if (i == 0) != (p.Topic != "") {
				t.Errorf("PUBLISH %d topic %q", i+1, p.Topic)
			}
			if err := in.Resolve(p); err != nil {
				t.Fatal(err)
			}
			if p.Topic != "very/long/topic/name/for/aliasing" || p.Properties.Has(PropTopicAlias) {
				t.Errorf("resolved PUBLISH %d: %q %v", i+1, p.Topic, p.Properties)
			}
		}
	},
	"v311-sub": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypeSubscribe, TypePuback, TypePubrec, TypePubcomp, TypeDisconnect)
		wantTypes(t, "server", s2c, TypeConnack, TypeSuback, TypePublish, TypePublish, TypePublish, TypePubrel)
		s := c2s[1].(*Subscribe)
		want := []Subscription{{Filter: "sensors/+/temp", QoS: 2}, {Filter: "alerts/#", QoS: 2}}
		if !slices.Equal(s.Subscriptions, want) {
			t.Errorf("subscriptions %+v", s.Subscriptions)
		}
	},
	"v5-sub": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypeSubscribe, TypeUnsubscribe, TypePuback, TypePubrec, TypePubcomp, TypeDisconnect)
		s := c2s[1].(*Subscribe)
		want := []Subscription{
			{Filter: "sensors/#", QoS: 2, RetainAsPublished: true},
			{Filter: "$share/group/jobs/+", QoS: 2, RetainAsPublished: true},
		}
		if !slices.Equal(s.Subscriptions, want) {
			t.Errorf("subscriptions %+v", s.Subscriptions)
		}
		if got := userProps(s.Properties); !slices.Equal(got, [][2]string{{"sub", "yes"}}) {
			t.Errorf("SUBSCRIBE user properties %v", got)
		}
		u := c2s[2].(*Unsubscribe)
		if !slices.Equal(u.Filters, []string{"old/topic"}) || !slices.Equal(userProps(u.Properties), [][2]string{{"unsub", "yes"}}) {
			t.Errorf("UNSUBSCRIBE %+v", u)
		}
		p := s2c[2].(*Publish)
		if got := userProps(p.Properties); !slices.Equal(got, [][2]string{{"k", "v1"}, {"k", "v2"}}) {
			t.Errorf("delivered user properties %v", got)
		}
	},
	"paho-v5": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypeSubscribe, TypeSubscribe, TypeSubscribe,
			TypePuback, TypePubrec, TypePuback, TypePubcomp, TypePublish, TypePublish, TypePubrel,
			TypePublish, TypePingreq, TypeUnsubscribe, TypeDisconnect)
		c := c2s[0].(*Connect)
		if c.CleanStart || c.KeepAlive != 1 || c.Username != "carol" || c.Will == nil {
			t.Errorf("CONNECT %+v", c)
		}
		if got := userProps(c.Properties); !slices.Equal(got, [][2]string{{"app", "capture"}, {"app", "dup"}}) {
			t.Errorf("CONNECT user properties %v", got)
		}
		s := c2s[1].(*Subscribe)
		wantSubs := []Subscription{
			{Filter: "sensors/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1},
			{Filter: "alerts/+", QoS: 1},
		}
		if !slices.Equal(s.Subscriptions, wantSubs) || !slices.Equal(subIDs(s.Properties), []uint32{42}) {
			t.Errorf("first SUBSCRIBE %+v %v", s.Subscriptions, s.Properties)
		}
		if s := c2s[2].(*Subscribe); s.Subscriptions[0].RetainHandling != 2 || !slices.Equal(subIDs(s.Properties), []uint32{44}) {
			t.Errorf("second SUBSCRIBE %+v %v", s.Subscriptions, s.Properties)
		}
		if s := c2s[3].(*Subscribe); s.Subscriptions[0].Filter != "$share/g/jobs/#" {
			t.Errorf("third SUBSCRIBE %+v", s.Subscriptions)
		}
		// The server's first delivery matched two subscriptions and
		// carries both identifiers.
		if p := s2c[4].(*Publish); !slices.Equal(subIDs(p.Properties), []uint32{42, 44}) {
			t.Errorf("delivery subscription ids %v", subIDs(p.Properties))
		}
		// paho's own alias: topic and alias, then the alias alone.
		first, second := c2s[8].(*Publish), c2s[9].(*Publish)
		in := NewInboundAliases(10)
		if err := in.Resolve(first); err != nil {
			t.Fatal(err)
		}
		if err := in.Resolve(second); err != nil {
			t.Fatal(err)
		}
		if second.Topic != "sensors/paho5/long/topic/name" || string(second.Payload) != "second" {
			t.Errorf("aliased PUBLISH resolved to %q %q", second.Topic, second.Payload)
		}
		d := c2s[len(c2s)-1].(*Disconnect)
		if d.Reason != DisconnectWithWillMessage {
			t.Errorf("DISCONNECT reason %v", d.Reason)
		}
		wantProp(t, d.Properties, PropReasonString, "done")
	},
	"paho-v5-takeover": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypeSubscribe)
		wantTypes(t, "server", s2c, TypeConnack, TypeSuback, TypeDisconnect)
		if d := s2c[2].(*Disconnect); d.Reason != SessionTakenOver {
			t.Errorf("DISCONNECT %v", d.Reason)
		}
	},
	"paho-v311": func(t *testing.T, c2s, s2c []Packet) {
		wantTypes(t, "client", c2s, TypeConnect, TypeSubscribe, TypePuback, TypePubrec, TypePubcomp,
			TypePublish, TypePublish, TypePubrel, TypePublish, TypePingreq, TypeUnsubscribe, TypeDisconnect)
		c := c2s[0].(*Connect)
		if c.CleanStart || !c.HasUsername || c.HasPassword || c.Will == nil || c.Will.QoS != 2 {
			t.Errorf("CONNECT %+v", c)
		}
		if p := c2s[8].(*Publish); !p.Retain || p.QoS != 0 {
			t.Errorf("retained QoS 0 PUBLISH %+v", p)
		}
	},
}

// TestGoldenErrorsAreTyped makes sure a truncated golden stream fails with
// io.ErrUnexpectedEOF and nothing worse.
func TestGoldenTruncated(t *testing.T) {
	for _, e := range loadManifest(t) {
		data, err := os.ReadFile(filepath.Join("testdata/golden", e.C2S))
		if err != nil {
			t.Fatal(err)
		}
		for cut := 1; cut < len(data); cut += 7 {
			r := NewReader(bytes.NewReader(data[:cut]), ReaderOptions{})
			for {
				_, err := r.ReadPacket()
				if err == nil {
					continue
				}
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("%s cut at %d: %v", e.Name, cut, err)
				}
				break
			}
		}
	}
}

// TestCaptureTool builds the capture tool, so that it keeps up with the
// package, and when the real clients are installed runs every scenario
// against the current codec: each client's packets must decode, and each
// client must understand what the codec writes. Without the clients the
// run is skipped, unless TANDEM_REQUIRE_MQTT_CLIENTS is set (as in CI once
// mosquitto-clients and python3-paho-mqtt are installed), then it fails.
func TestCaptureTool(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs external programs")
	}
	bin := filepath.Join(t.TempDir(), "capture")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/capture").CombinedOutput(); err != nil {
		t.Fatalf("building the capture tool: %v\n%s", err, out)
	}
	var missing []string
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import paho.mqtt.client").Run(); err != nil {
		missing = append(missing, "python3-paho-mqtt under /usr/bin/python3")
	}
	if len(missing) > 0 {
		if os.Getenv("TANDEM_REQUIRE_MQTT_CLIENTS") != "" {
			t.Fatalf("TANDEM_REQUIRE_MQTT_CLIENTS is set but these are missing: %v", missing)
		}
		t.Skipf("missing %v (apt-get install mosquitto-clients python3-paho-mqtt)", missing)
	}
	dir := t.TempDir()
	out, err := exec.Command(bin, "-out", dir, "-scripts", "testdata/capture").CombinedOutput()
	if err != nil {
		t.Fatalf("capture: %v\n%s", err, out)
	}
	fresh, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []goldenEntry
	if err := json.Unmarshal(fresh, &got); err != nil {
		t.Fatal(err)
	}
	if want := loadManifest(t); len(got) != len(want) {
		t.Fatalf("the capture produced %d scenarios, the stored golden files have %d", len(got), len(want))
	}
}
