package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tandem/internal/perf"
)

type perfOptions struct {
	url, user, password string
	vhost               string
	protocol            string
	ack                 string
	prefetch            int
	ackEvery            int
	brokerPID           int
	destinations        []string
	numDestinations     int
	producers           int
	consumers           int
	messageSize         int
	persistent          bool
	nonPersistent       bool
	maxPending          int
	tx                  int
	rate                float64
	duration            seconds
	warmup              seconds
	drain               seconds
	messageCount        int64
	mqttVersion         int
	qos                 int
	cleanSession        bool
	durationSet         bool // --duration given explicitly
	warmupSet           bool // --warmup given explicitly
	json                bool
}

func init() { register(newPerfCommand) }

func newPerfCommand(e *env) *cobra.Command {
	o := perfOptions{duration: seconds(10 * time.Second), warmup: seconds(2 * time.Second), drain: seconds(perf.DefaultDrain)}
	cmd := &cobra.Command{
		Use:   "perf [DESTINATION...]",
		Short: "Measure a STOMP, OpenWire, AMQP or MQTT broker's throughput and latency under load",
		Long: `Drive a STOMP broker (tandem or any other: ActiveMQ Classic, Artemis, ...), or with
--protocol openwire an OpenWire one (tandem, ActiveMQ Classic), with
producers and consumers, in the spirit of Artemis' 'artemis perf client', and
report the sent, confirmed and received rates and the send-to-confirm and
end-to-end latency percentiles (p50, p90, p99, p99.9, max) from HDR histograms.

Each producer and consumer has its own connection. Persistent sends ask for a
receipt and count as confirmed when it arrives; --max-pending allows that many
unconfirmed sends per producer. With --rate the producers send on a fixed
schedule, and latency is measured from each message's slot in the schedule, so
a stalled broker cannot hide behind a stalled load generator.

Consumers acknowledge with ack:auto unless --ack says client (cumulative ACKs,
every --ack-every messages) or client-individual (an ACK per message), as
reliable applications do; --prefetch bounds the unacknowledged messages per
subscription. With --broker-pid, the broker's CPU time (user + system, read
from /proc) over the measured window is reported per message.

Destinations are given with --destination or as arguments (default
queue://TEST); --num-destinations N spreads the load over DEST.0 ... DEST.N-1.
A live progress line is shown on a terminal, never when the output is piped.

With --protocol mqtt every connection speaks MQTT (3.1.1, or 5 with
--mqtt-version 5) to tandem or any MQTT broker (RabbitMQ's MQTT plugin,
ActiveMQ's MQTT connector, mosquitto): destinations are topics (queue://a.b
and topic://a.b are the topic a/b), publishes go at --qos (default 1 for
persistent sends, 0 with --non-persistent) and count as confirmed at PUBACK
(PUBCOMP for QoS 2), and consumers subscribe at that QoS on persistent
sessions, removed after the run (--clean-session for clean ones).`,
		Example: `  tandem perf --duration 30s
  tandem perf --producers 8 --consumers 4 --max-pending 64 --url tcp://localhost:61613
  tandem perf --non-persistent --rate 20000 --json queue://bench
  tandem perf --consumers 0 --message-count 1000000 --max-pending 64
  tandem perf --ack client-individual --prefetch 100 --broker-pid $(pgrep -n tandem)
  tandem perf --url tcp://127.0.0.1:61613 --vhost / --user guest --password guest   # RabbitMQ
  tandem perf --protocol mqtt --producers 4 --consumers 4 --max-pending 64 topic://bench.mqtt
  tandem perf connections --connections 10000 --hold 30s`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("destination") && len(args) > 0 {
				o.destinations = nil
			}
			o.destinations = append(o.destinations, args...)
			if cmd.Flags().Changed("persistent") && o.nonPersistent {
				return errors.New("--persistent and --non-persistent contradict each other; give one")
			}
			o.persistent = !o.nonPersistent
			o.durationSet = cmd.Flags().Changed("duration")
			o.warmupSet = cmd.Flags().Changed("warmup")
			return runPerf(cmd.Context(), o, e)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.url, "url", "tcp://localhost:61616", "broker URL: tcp://host:port, failover:(tcp://a,tcp://b) or (tcp://a,tcp://b)?ha=true (the first broker that accepts is used)")
	fs.StringVar(&o.user, "user", "", "user name")
	fs.StringVar(&o.password, "password", "", "password")
	fs.StringVar(&o.protocol, "protocol", "stomp", "protocol to speak: stomp, openwire (ActiveMQ Classic's JMS client protocol: persistent sends confirmed by the broker's response, every message acknowledged), amqp (AMQP 1.0: persistent sends are durable messages confirmed by the accepted outcome) or mqtt (see below)")
	fs.StringVar(&o.vhost, "vhost", "", "CONNECT host header, the virtual host (default: the URL's host; RabbitMQ wants /)")
	fs.StringSliceVar(&o.destinations, "destination", []string{"queue://TEST"}, "destination(s): queue://NAME, topic://NAME, /queue/NAME, /topic/NAME or NAME; repeat or separate with commas")
	fs.IntVar(&o.numDestinations, "num-destinations", 1, "spread the load over N numbered destinations per --destination (NAME.0 ... NAME.N-1)")
	fs.IntVar(&o.producers, "producers", 1, "producers, each with its own connection")
	fs.IntVar(&o.consumers, "consumers", 1, "consumers, each with its own connection")
	fs.StringVar(&o.ack, "ack", "auto", "how consumers acknowledge: auto (the broker does), client (cumulative ACKs) or client-individual (an ACK per message)")
	fs.IntVar(&o.prefetch, "prefetch", 0, "unacknowledged messages a broker may send each subscription, sent as activemq.prefetchSize and prefetch-count (0: the broker's default)")
	fs.IntVar(&o.ackEvery, "ack-every", 1, "with --ack client, acknowledge every N-th message (each ACK covers those before it)")
	fs.IntVar(&o.messageSize, "message-size", 1024, "body size in bytes")
	fs.BoolVar(&o.persistent, "persistent", true, "send persistent messages, each confirmed by a receipt (the default)")
	fs.BoolVar(&o.nonPersistent, "non-persistent", false, "send non-persistent messages, not confirmed")
	fs.IntVar(&o.maxPending, "max-pending", 1, "unconfirmed sends allowed per producer (1: each send is confirmed before the next)")
	fs.IntVar(&o.tx, "tx", 0, "send in transactions of N messages, each COMMIT confirmed (0: no transactions)")
	fs.Float64Var(&o.rate, "rate", 0, "total messages per second, on a fixed schedule (0: as fast as possible)")
	fs.Var(&o.duration, "duration", "how long to measure after the warm-up (\"30s\", \"2m\" or seconds); 0 with --message-count sends that many")
	fs.Var(&o.warmup, "warmup", "how long to run the load before measuring")
	fs.Var(&o.drain, "drain", "how long to wait at the end for missing confirmations and deliveries")
	fs.Int64Var(&o.messageCount, "message-count", 0, "stop after this many messages in all (0: no limit)")
	fs.IntVar(&o.brokerPID, "broker-pid", 0, "the broker's process id on this machine: report its CPU time (from /proc) per message")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.IntVar(&o.mqttVersion, "mqtt-version", 4, "with --protocol mqtt: 4 (MQTT 3.1.1) or 5")
	fs.IntVar(&o.qos, "qos", 0, "with --protocol mqtt: QoS 1 or 2 of publishes and subscriptions (default 1; 0 with --non-persistent)")
	fs.BoolVar(&o.cleanSession, "clean-session", false, "with --protocol mqtt: consumers use clean sessions (not durable)")
	cmd.AddCommand(newPerfReadyCommand(e))
	cmd.AddCommand(newPerfConnectionsCommand(e))
	return cmd
}

func runPerf(ctx context.Context, o perfOptions, e *env) error {
	var dests []string
	for _, d := range o.destinations {
		if o.numDestinations < 1 {
			return fmt.Errorf("--num-destinations %d: must be 1 or more", o.numDestinations)
		}
		dests = append(dests, perf.ExpandDestinations(d, o.numDestinations)...)
	}
	ack, err := perf.ParseAckMode(o.ack)
	if err != nil {
		return fmt.Errorf("--ack: %w", err)
	}
	cfg := perf.Config{
		URL: o.url, User: o.user, Password: o.password, VHost: o.vhost, Destinations: dests, Protocol: strings.ToLower(o.protocol),
		Ack: ack, Prefetch: o.prefetch, AckEvery: o.ackEvery, BrokerPID: o.brokerPID,
		Producers: o.producers, Consumers: o.consumers, MessageSize: o.messageSize,
		Persistent: o.persistent, MaxPending: o.maxPending, TxBatch: o.tx, Rate: o.rate,
		Duration: time.Duration(o.duration), Warmup: time.Duration(o.warmup), Drain: time.Duration(o.drain),
		MessageCount: o.messageCount,
	}
	if cfg.Protocol == perf.ProtocolMQTT {
		cfg.MQTTVersion, cfg.QoS, cfg.MQTTCleanSession = o.mqttVersion, o.qos, o.cleanSession
	}
	if o.messageCount > 0 && !o.durationSet {
		// --message-count alone means "send that many", not "send that
		// many or stop after the default 10 s".
		cfg.Duration = 0
	}
	if o.messageCount > 0 && !o.warmupSet {
		// Nor should a short count be spent entirely in the default
		// warm-up, leaving nothing measured.
		cfg.Warmup = 0
	}
	if isTerminal(e.stderr) {
		cfg.Progress = e.stderr
	}
	rep, err := perf.Run(ctx, cfg)
	if rep != nil {
		if o.json {
			if werr := rep.WriteJSON(e.stdout); werr != nil {
				return werr
			}
		} else if werr := rep.WriteText(e.stdout); werr != nil {
			return werr
		}
	}
	return err
}

func newPerfReadyCommand(e *env) *cobra.Command {
	var (
		url, user, password string
		vhost               string
		timeout             seconds = seconds(60 * time.Second)
		since               int64
		proto               string
	)
	cmd := &cobra.Command{
		Use:   "ready",
		Short: "Wait until a STOMP (or MQTT) broker accepts a connection and print how long that took",
		Long: `Try to open a STOMP connection every 5 ms until the broker answers CONNECTED,
then print the milliseconds elapsed since --since (Unix time in nanoseconds,
as 'date +%s%N' prints it; default: when this command started). bench/compare
uses it to time start-up and failover the way a client sees them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from := time.Now()
			if since > 0 {
				from = time.Unix(0, since)
			}
			var at time.Time
			var err error
			if strings.EqualFold(proto, perf.ProtocolMQTT) {
				at, err = perf.WaitReadyMQTT(cmd.Context(), url, user, password, time.Duration(timeout))
			} else {
				at, err = perf.WaitReady(cmd.Context(), url, user, password, vhost, time.Duration(timeout))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%.1f\n", float64(at.Sub(from))/float64(time.Millisecond))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&url, "url", "tcp://localhost:61616", "broker URL (every broker of a list is tried in each round)")
	fs.StringVar(&user, "user", "", "user name")
	fs.StringVar(&password, "password", "", "password")
	fs.StringVar(&vhost, "vhost", "", "CONNECT host header, the virtual host (default: the URL's host; RabbitMQ wants /)")
	fs.Var(&timeout, "timeout", "give up after this long")
	fs.Int64Var(&since, "since", 0, "Unix time in nanoseconds to count from")
	fs.StringVar(&proto, "protocol", "stomp", "stomp, or mqtt to wait for an MQTT CONNACK")
	return cmd
}

// seconds is a duration flag that takes Go durations ("500ms", "2m") and,
// as Artemis' perf client does, bare numbers of seconds ("30").
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }
func (s *seconds) Type() string   { return "duration" }

func (s *seconds) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n < 0 {
			return fmt.Errorf("%q is negative", v)
		}
		*s = seconds(time.Duration(n * float64(time.Second)))
		return nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a duration: write it like 30s, 500ms, 2m, or a number of seconds", v)
	}
	if d < 0 {
		return fmt.Errorf("%q is negative", v)
	}
	*s = seconds(d)
	return nil
}

// isTerminal reports whether w is a terminal, where a progress line that
// rewrites itself makes sense; piped or redirected output gets none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return fdIsTerminal(f.Fd())
}

func newPerfConnectionsCommand(e *env) *cobra.Command {
	var (
		cfg          perf.IdleConfig
		hold, settle seconds = seconds(30 * time.Second), seconds(2 * time.Second)
		jsonOut      bool
	)
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "Open many idle STOMP connections and report what they cost the broker",
		Long: `Open --connections STOMP connections (--parallel at a time, from the --bind
source addresses in turn), report how fast the broker accepted them, hold them
open and idle for --hold, and close each with a DISCONNECT whose RECEIPT shows
it was still served. The connections ask for no heart-beats. With --broker-pid
the broker's resident memory (before and with the connections) and CPU time
(while connecting, and while idle) are read from /proc.

One source address has one range of ephemeral ports (see
/proc/sys/net/ipv4/ip_local_port_range); on Linux every 127.x.y.z address is
loopback, so --bind 127.0.0.1,127.0.0.2 doubles what one broker port can take.
The open-file limit (ulimit -n) must allow the connections, here and in the
broker.`,
		Example: `  tandem perf connections --connections 10000 --hold 30s --broker-pid $(pgrep -n tandem)
  tandem perf connections --url tcp://127.0.0.1:61613 --bind 127.0.0.2,127.0.0.3 --connections 20000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Hold, cfg.Settle = time.Duration(hold), time.Duration(settle)
			rep, err := perf.RunIdle(cmd.Context(), cfg)
			if rep != nil {
				var werr error
				if jsonOut {
					werr = rep.WriteJSON(e.stdout)
				} else {
					werr = rep.WriteText(e.stdout)
				}
				if werr != nil {
					return werr
				}
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.URL, "url", "tcp://localhost:61616", "broker URL (the first broker of a list that accepts is used for each connection)")
	fs.StringVar(&cfg.User, "user", "", "user name")
	fs.StringVar(&cfg.Password, "password", "", "password")
	fs.StringVar(&cfg.VHost, "vhost", "", "CONNECT host header, the virtual host (default: the URL's host; RabbitMQ wants /)")
	fs.IntVar(&cfg.Connections, "connections", 1000, "connections to open")
	fs.IntVar(&cfg.Parallel, "parallel", 32, "connections being opened at once")
	fs.StringSliceVar(&cfg.LocalAddrs, "bind", nil, "source IP addresses to connect from, in turn (default: the kernel's choice)")
	fs.Var(&hold, "hold", "how long to hold the connections open and idle")
	fs.Var(&settle, "settle", "pause after the last connection before the hold is measured")
	fs.IntVar(&cfg.BrokerPID, "broker-pid", 0, "the broker's process id on this machine: report its memory and CPU time (from /proc)")
	fs.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	return cmd
}
