package perf

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"tandem/client"
	amqp "tandem/client/amqp"
	"tandem/internal/wire/mqtt"
)

// Sentinel errors. Every error Run returns wraps one of them (or the
// context's error) with the details.
var (
	// ErrBadConfig reports a Config that cannot describe a run; the message
	// names the setting and says what it must be.
	ErrBadConfig = errors.New("perf: invalid settings")
	// ErrConnect reports that no broker of the URL accepted a STOMP
	// connection.
	ErrConnect = errors.New("perf: cannot connect")
	// ErrBroker reports an ERROR frame from the broker during the run.
	ErrBroker = errors.New("perf: broker error")
	// ErrConnectionLost reports a connection that broke during the run.
	ErrConnectionLost = errors.New("perf: connection lost")
	// ErrUnconfirmed reports confirmations still missing when the drain
	// time ran out.
	ErrUnconfirmed = errors.New("perf: sends left unconfirmed")
)

// Config describes one run.
type Config struct {
	// URL names the broker in any form tandem/client.ParseURL accepts:
	// tcp://host:port, failover:(tcp://a,tcp://b) or (tcp://a,tcp://b)?ha=true.
	// The run connects to the first listed broker that accepts; it does not
	// fail over during the run.
	URL string
	// Protocol is what the run speaks: ProtocolSTOMP (the default),
	// ProtocolOpenWire, ProtocolAMQP or ProtocolMQTT.
	Protocol string
	// User and Password are sent in CONNECT (AMQP: SASL PLAIN) when User is
	// set.
	User, Password string
	// VHost is the CONNECT frame's host header, the virtual host. Empty
	// sends the host of the URL, as STOMP 1.1 suggests; RabbitMQ takes the
	// header as its virtual host and wants "/" (its default one).
	VHost string
	// Destinations are the destinations in any form
	// client.NormalizeDestination accepts. Producer i sends to and consumer
	// j receives from destinations spread round-robin (see Run).
	Destinations []string
	// Producers and Consumers count connections; each has its own.
	Producers, Consumers int
	// MessageSize is the body size in bytes.
	MessageSize int
	// Persistent sends persistent messages, each confirmed with a receipt.
	Persistent bool
	// MaxPending bounds the unconfirmed sends of one producer (persistent
	// sends, or the sends of transactions not yet committed). 1 waits for
	// each confirmation before the next send.
	MaxPending int
	// TxBatch, when above zero, groups that many sends into one
	// transaction; the COMMIT carries the receipt that confirms them all.
	TxBatch int
	// Ack is how consumers acknowledge: AckAuto (the default) leaves it
	// to the broker, which counts a message delivered when it sends it;
	// AckClient and AckClientIndividual make the consumer send an ACK
	// frame, as a reliable application does once it has processed a
	// message.
	Ack AckMode
	// Prefetch, when above zero, bounds the messages a broker sends a
	// subscription ahead of its acknowledgements. It travels in the
	// SUBSCRIBE frame as ActiveMQ's activemq.prefetchSize (which tandem
	// reads too) and RabbitMQ's prefetch-count. Zero leaves each broker's
	// default.
	Prefetch int
	// AckEvery, with AckClient, acknowledges every AckEvery-th message of
	// a subscription (each ACK covers the ones before it); 0 or 1
	// acknowledges each message. A remainder is acknowledged when the run
	// ends.
	AckEvery int
	// BrokerPID, when above zero, is the broker's process on this machine:
	// its CPU time (user and system, from /proc/PID/stat) over the
	// measurement window is reported per message.
	BrokerPID int
	// Rate, when above zero, is the total send rate in messages per second,
	// shared evenly by the producers; zero sends as fast as possible.
	Rate float64
	// Duration is how long the measurement lasts after the warm-up. Zero
	// means until MessageCount messages are sent.
	Duration time.Duration
	// Warmup runs the load for this long before measuring.
	Warmup time.Duration
	// MessageCount, when above zero, stops the producers after this many
	// messages in all (warm-up included).
	MessageCount int64
	// Drain bounds how long the run waits, after the producers stopped, for
	// missing confirmations and for consumers to receive what was sent.
	// Default 30 s.
	Drain time.Duration
	// IdleEnd is how long the consumers must go without a message, once
	// the producers stopped and every send is confirmed, before the run
	// ends. Default 1 s.
	IdleEnd time.Duration
	// ConnectTimeout bounds each connection's TCP connect and STOMP
	// handshake. Default 10 s.
	ConnectTimeout time.Duration
	// Progress, when set, receives a one-line status every second,
	// rewritten in place with a carriage return (meant for a terminal).
	Progress io.Writer
	// Logger receives debug events; nil discards them.
	Logger *slog.Logger

	// MQTTVersion is an MQTT run's protocol level: 4 (3.1.1, the default)
	// or 5.
	MQTTVersion int
	// QoS is an MQTT run's QoS of publishes and subscriptions: 1 or 2; 0
	// means 1 for persistent sends and 0 for non-persistent ones.
	QoS int
	// MQTTCleanSession gives an MQTT run's consumers clean sessions (Clean
	// Session 1): their subscriptions are not durable.
	MQTTCleanSession bool
}

// The protocols a run speaks.
const (
	ProtocolSTOMP    = "stomp"
	ProtocolOpenWire = "openwire"
	ProtocolAMQP     = "amqp"
	ProtocolMQTT     = "mqtt"
)

// AckMode is how consumers acknowledge, named as in STOMP's ack header.
type AckMode string

// The acknowledgement modes of STOMP.
const (
	// AckAuto: the broker considers a message acknowledged once sent.
	AckAuto AckMode = "auto"
	// AckClient: an ACK acknowledges its message and every earlier one of
	// the subscription (cumulative).
	AckClient AckMode = "client"
	// AckClientIndividual: an ACK acknowledges its message alone.
	AckClientIndividual AckMode = "client-individual"
)

// ParseAckMode returns the mode a STOMP ack header value names.
func ParseAckMode(s string) (AckMode, error) {
	switch m := AckMode(s); m {
	case AckAuto, AckClient, AckClientIndividual:
		return m, nil
	case "":
		return AckAuto, nil
	}
	return "", fmt.Errorf("%q is not an acknowledgement mode: write auto, client or client-individual", s)
}

// acks reports whether consumers send ACK frames.
func (m AckMode) acks() bool { return m == AckClient || m == AckClientIndividual }

// Default values of Config fields left zero where zero is not meaningful.
const (
	DefaultDrain          = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultIdleEnd        = time.Second
)

// Validate checks c and returns every problem in one error wrapping
// ErrBadConfig. Each problem names the setting by its command-line flag.
func (c *Config) Validate() error {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	switch c.Protocol {
	case "", ProtocolSTOMP, ProtocolOpenWire:
		if _, _, err := client.ParseURL(c.URL); err != nil {
			bad("--url %q: %v", c.URL, err)
		}
		for _, d := range c.Destinations {
			if _, err := client.NormalizeDestination(d); err != nil {
				bad("--destination %q: %v", d, err)
			}
		}
		if c.Protocol == ProtocolOpenWire && c.VHost != "" {
			bad("--vhost is STOMP's CONNECT host header; OpenWire has none")
		}
	case ProtocolAMQP:
		if _, err := amqp.ParseURL(c.URL); err != nil {
			bad("--url %q: %v", c.URL, err)
		}
		if c.TxBatch > 0 {
			bad("--tx %d: transactions are not measured over AMQP (use --protocol stomp)", c.TxBatch)
		}
		if c.AckEvery > 1 {
			bad("--ack-every %d: AMQP accepts each message; cumulative acknowledgements are STOMP's", c.AckEvery)
		}
	case ProtocolMQTT:
		if _, _, err := client.ParseURL(c.URL); err != nil {
			bad("--url %q: %v", c.URL, err)
		}
		if c.TxBatch > 0 {
			bad("--tx %d: MQTT has no transactions", c.TxBatch)
		}
		if c.MessageSize < stampSize {
			bad("--message-size %d: an MQTT message carries its timing in its body, which needs at least %d bytes", c.MessageSize, stampSize)
		}
		if c.MQTTVersion != 0 && c.MQTTVersion != 4 && c.MQTTVersion != 5 {
			bad("--mqtt-version %d: write 4 (MQTT 3.1.1) or 5", c.MQTTVersion)
		}
		if c.QoS < 0 || c.QoS > 2 {
			bad("--qos %d: write 1 or 2 (0: 1 for persistent sends, 0 for non-persistent ones)", c.QoS)
		}
		if c.QoS > 0 && !c.Persistent {
			bad("--qos %d with --non-persistent: non-persistent sends are QoS 0", c.QoS)
		}
	default:
		bad("--protocol %q: use stomp, openwire, amqp or mqtt", c.Protocol)
	}
	if c.Protocol != ProtocolMQTT && (c.QoS != 0 || c.MQTTVersion != 0 || c.MQTTCleanSession) {
		bad("--qos, --mqtt-version and --clean-session are for --protocol mqtt")
	}
	if len(c.Destinations) == 0 {
		bad("at least one --destination is needed")
	}
	if c.Producers < 0 {
		bad("--producers %d: must be 0 or more", c.Producers)
	}
	if c.Consumers < 0 {
		bad("--consumers %d: must be 0 or more", c.Consumers)
	}
	if c.Producers == 0 && c.Consumers == 0 {
		bad("--producers and --consumers are both 0: nothing to measure")
	}
	if c.MessageSize < 0 {
		bad("--message-size %d: must be 0 or more bytes", c.MessageSize)
	}
	if c.MaxPending < 1 {
		bad("--max-pending %d: must be at least 1 (1 waits for each confirmation)", c.MaxPending)
	}
	if c.TxBatch < 0 {
		bad("--tx %d: must be 0 (no transactions) or the number of sends per transaction", c.TxBatch)
	}
	if c.TxBatch > 0 && c.MaxPending < c.TxBatch {
		bad("--max-pending %d is below --tx %d: a transaction's sends are confirmed together by its COMMIT, so at least %d must be allowed pending",
			c.MaxPending, c.TxBatch, c.TxBatch)
	}
	if _, err := ParseAckMode(string(c.Ack)); err != nil {
		bad("--ack: %v", err)
	}
	if c.Prefetch < 0 {
		bad("--prefetch %d: must be 0 (the broker's default) or the number of unacknowledged messages a subscription may hold", c.Prefetch)
	}
	switch {
	case c.AckEvery < 0:
		bad("--ack-every %d: must be 1 or more", c.AckEvery)
	case c.AckEvery > 1 && c.Ack != AckClient:
		bad("--ack-every %d needs --ack client: only a client ACK covers the messages before it", c.AckEvery)
	case c.AckEvery > 1 && c.Prefetch > 0 && c.AckEvery > c.Prefetch:
		bad("--ack-every %d is above --prefetch %d: the broker would stop sending before the consumer acknowledges", c.AckEvery, c.Prefetch)
	}
	if c.BrokerPID < 0 {
		bad("--broker-pid %d: must be a process id", c.BrokerPID)
	}
	if c.Rate < 0 {
		bad("--rate %g: must be 0 (as fast as possible) or messages per second", c.Rate)
	}
	if c.Duration < 0 || c.Warmup < 0 {
		bad("--duration and --warmup must not be negative")
	}
	if c.MessageCount < 0 {
		bad("--message-count %d: must be 0 (no limit) or more", c.MessageCount)
	}
	if c.Duration == 0 && c.MessageCount == 0 {
		bad("neither --duration nor --message-count is set: the run would never end")
	}
	if c.Producers == 0 && c.Duration == 0 {
		bad("--duration is needed when there are no producers (consumers only)")
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  %s", ErrBadConfig, strings.Join(probs, "\n  "))
}

// confirmed reports whether sends of this configuration are confirmed by
// the broker: persistent sends carry a receipt request, and so does every
// COMMIT.
func (c *Config) confirmed() bool {
	if c.Protocol == ProtocolMQTT {
		return c.mqttQoS() > 0
	}
	return c.Persistent || c.TxBatch > 0
}

// mqttQoS is the QoS of an MQTT run's publishes and subscriptions.
func (c *Config) mqttQoS() mqtt.QoS {
	switch {
	case c.QoS > 0:
		return mqtt.QoS(c.QoS)
	case c.Persistent:
		return mqtt.QoS1
	}
	return mqtt.QoS0
}

// mqttVersion is an MQTT run's protocol level.
func (c *Config) mqttVersion() mqtt.Version {
	if c.MQTTVersion == 5 {
		return mqtt.V5
	}
	return mqtt.V311
}

// ExpandDestinations returns base followed by ".0" … ".n-1" when n > 1
// (the way Artemis' perf client spreads a load over numbered destinations),
// or base alone when n <= 1.
func ExpandDestinations(base string, n int) []string {
	if n <= 1 {
		return []string{base}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s.%d", base, i)
	}
	return out
}
