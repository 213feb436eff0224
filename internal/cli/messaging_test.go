package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"tandem/internal/wire/mqtt"
)

// TestMessagingFlagErrors checks what the messaging commands answer for
// flags they do not take: a typo gets the closest flags, an Artemis flag
// tandem lacks is named as such, and a protocol tandem's CLI does not
// speak says so. Scripts and users read these lines.
func TestMessagingFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"typo", []string{"producer", "--mesage-count", "3"}, "unknown flag: --mesage-count; did you mean --message-count?"},
		{"camel case", []string{"consumer", "--receiveTimeout", "3"}, "did you mean --receive-timeout?"},
		{"nothing close", []string{"browse", "--zzzzzzzz"}, "unknown flag: --zzzzzzzz (see tandem browse --help for its flags)"},
		{"artemis only", []string{"producer", "--object-size", "10"},
			"--object-size is an Artemis flag that tandem producer does not support: tandem has no JMS ObjectMessage"},
		{"artemis only consumer", []string{"consumer", "--threads", "2"}, "--threads is an Artemis flag that tandem consumer does not support"},
		{"core protocol", []string{"consumer", "--protocol", "CORE"}, "tandem does not speak Artemis' Core protocol"},
		{"unknown protocol", []string{"browse", "--protocol", "smtp"}, `--protocol "smtp" is not a protocol tandem knows; use amqp or mqtt or openwire or stomp`},
		{"both commit spellings", []string{"producer", "--commit-interval", "2", "--txt-size", "3"},
			"--txt-size and --commit-interval are the same setting; give only --commit-interval"},
		{"two bodies", []string{"producer", "--text-size", "10", "--message", "hi"}, "give one of them"},
		{"commit with window", []string{"producer", "--commit-interval", "2", "--max-pending", "4"}, "exclude each other"},
		{"durable without client id", []string{"consumer", "--durable", "--destination", "topic://news"},
			"--durable needs --clientID"},
		{"durable queue", []string{"consumer", "--durable", "--clientID", "c", "--destination", "queue://q"},
			"--durable applies to topics; queue://q is a queue"},
		{"bad url", []string{"browse", "--url", "tcp:/localhost:1"},
			`--url: bad broker URL "tcp:/localhost:1": the scheme needs two slashes; write tcp://localhost:1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want a failure containing %q (stdout %q)", code, errOut, tc.want, out)
			}
			if strings.Contains(out, "Successfully connected") {
				t.Fatalf("a refused command connected: %q", out)
			}
		})
	}
}

func TestUnknownURLOptionsAreNamed(t *testing.T) {
	var w bytes.Buffer
	f := connFlags{url: "failover:(tcp://a:1,tcp://b:2)?maxReconectAttempts=2&randomize=false&wireFormat.x=1", protocol: "stomp"}
	if err := f.check(&w); err != nil {
		t.Fatal(err)
	}
	want := `warning: URL option "maxReconectAttempts" has no effect: tandem's client does not know it; did you mean "maxReconnectAttempts"?` + "\n" +
		`warning: URL option "wireFormat.x" has no effect: tandem's client does not know it` + "\n"
	if w.String() != want {
		t.Fatalf("warnings:\n%s\nwant:\n%s", w.String(), want)
	}
}

func TestSuggestFlags(t *testing.T) {
	flags := []string{"message-count", "message-size", "text-size", "txt-size", "destination", "clientID", "url"}
	tests := []struct {
		in   string
		want string
	}{
		{"message-cout", "--message-count"},
		{"clientid", "--clientID"},
		{"messagesize", "--message-size"},
		{"text-sze", "--text-size or --txt-size"},
		{"dest", "--destination"},
		{"qqqqqqqq", ""},
	}
	for _, tc := range tests {
		if got := strings.Join(suggestFlags(tc.in, flags), " or "); got != tc.want {
			t.Errorf("suggestFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProducerBodies(t *testing.T) {
	tests := []struct {
		name     string
		o        producerOptions
		wantBody string
		wantText bool
	}{
		{"default", producerOptions{}, "test message: 7", true},
		{"text", producerOptions{text: "hello"}, "hello", true},
		{"text size", producerOptions{textSize: 20}, "test message: 7 xxxx", true},
		{"tiny text size", producerOptions{textSize: 4}, "test", true},
		{"bytes", producerOptions{messageSize: 3}, "XXX", false},
	}
	for _, tc := range tests {
		payload := []byte(strings.Repeat("X", tc.o.messageSize))
		body, text := tc.o.body(7, payload)
		if string(body) != tc.wantBody || text != tc.wantText {
			t.Errorf("%s: body %q text %v, want %q %v", tc.name, body, text, tc.wantBody, tc.wantText)
		}
	}
}

func TestDurableSubscriptionName(t *testing.T) {
	o := consumerOptions{durable: true, conn: connFlags{clientID: "c1", destination: "topic://news"}}
	so, err := o.subscription()
	if err != nil || so.durableName != defaultSubscriptionName {
		t.Fatalf("subscription() = %+v, %v", so, err)
	}
	o.durable, o.durableName = false, "mine"
	if so, err = o.subscription(); err != nil || so.durableName != "mine" {
		t.Fatalf("a name implies --durable: %+v, %v", so, err)
	}
	o.durableName = ""
	if so, _ = o.subscription(); so.durableName != "" {
		t.Fatalf("a plain consumer got a durable name %q", so.durableName)
	}
}

func TestShownDestination(t *testing.T) {
	if got := shown("queue://orders"); got != "queue://orders" {
		t.Errorf("shown(short) = %q", got)
	}
	long := "queue://" + strings.Repeat("x", 1100)
	if got := shown(long); !strings.HasSuffix(got, "… (1108 characters)") || len([]rune(got)) > 90 {
		t.Errorf("shown(long) = %q", got)
	}
}

func TestMQTTDestinations(t *testing.T) {
	for in, want := range map[string]string{
		"queue://orders.eu": "orders/eu", "topic://news": "news", "/topic/a.b": "a/b", "sensors/+/temp": "sensors/+/temp",
		`topic://v1\.2.x`: "v1.2/x",
	} {
		if got := mqttTopic(in); got != want {
			t.Errorf("mqttTopic(%q) = %q, want %q", in, got, want)
		}
	}
	m := mqttMessage("topic://t", []byte("x"), sendOptions{nonPersistent: true, text: true, ttl: 1500 * time.Millisecond, group: "g"})
	if m.QoS != 0 || len(m.Properties) != 3 {
		t.Fatalf("message %+v", m)
	}
	if v, _ := m.Properties.Int(mqtt.PropMessageExpiry); v != 2 {
		t.Errorf("expiry %d s, want 2 (rounded up)", v)
	}
}
