package stomp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Every error the codec returns wraps one of them (or an
// io error) and adds, in words, what exactly was wrong with the input.
var (
	// ErrFrameTooLarge reports a frame (or its body) larger than the reader's
	// limits allow.
	ErrFrameTooLarge = errors.New("stomp: frame too large")
	// ErrTooManyHeaders reports a frame with more header lines than allowed.
	ErrTooManyHeaders = errors.New("stomp: too many headers")
	// ErrHeaderTooLarge reports a header line longer than allowed.
	ErrHeaderTooLarge = errors.New("stomp: header line too long")
	// ErrBadFrame reports malformed input: an unknown or badly spelled
	// command, a header line without a colon, an undefined escape sequence,
	// a bad content-length or a body not terminated by NUL. The writer also
	// returns it for a frame that cannot be encoded in the chosen version.
	ErrBadFrame = errors.New("stomp: malformed frame")
	// ErrUnsupportedVersion reports that the peer accepts no protocol version
	// this codec speaks.
	ErrUnsupportedVersion = errors.New("stomp: no common protocol version")
)

// STOMP commands. Client frames first, then server frames.
const (
	CmdConnect     = "CONNECT"
	CmdStomp       = "STOMP"
	CmdSend        = "SEND"
	CmdSubscribe   = "SUBSCRIBE"
	CmdUnsubscribe = "UNSUBSCRIBE"
	CmdAck         = "ACK"
	CmdNack        = "NACK"
	CmdBegin       = "BEGIN"
	CmdCommit      = "COMMIT"
	CmdAbort       = "ABORT"
	CmdDisconnect  = "DISCONNECT"
	CmdConnected   = "CONNECTED"
	CmdMessage     = "MESSAGE"
	CmdReceipt     = "RECEIPT"
	CmdError       = "ERROR"
)

// Header names used by STOMP and by the ActiveMQ/Artemis extensions tandem
// speaks. They are listed here so the reader can intern them (one shared
// string instead of one allocation per frame) and so callers do not misspell
// them.
const (
	HdrAcceptVersion  = "accept-version"
	HdrAck            = "ack"
	HdrContentLength  = "content-length"
	HdrContentType    = "content-type"
	HdrDestination    = "destination"
	HdrHeartBeat      = "heart-beat"
	HdrHost           = "host"
	HdrID             = "id"
	HdrLogin          = "login"
	HdrMessage        = "message"
	HdrMessageID      = "message-id"
	HdrPasscode       = "passcode"
	HdrReceipt        = "receipt"
	HdrReceiptID      = "receipt-id"
	HdrServer         = "server"
	HdrSession        = "session"
	HdrSubscription   = "subscription"
	HdrTransaction    = "transaction"
	HdrVersion        = "version"
	HdrPersistent     = "persistent"
	HdrPriority       = "priority"
	HdrExpires        = "expires"
	HdrTimestamp      = "timestamp"
	HdrRedelivered    = "redelivered"
	HdrReplyTo        = "reply-to"
	HdrCorrelationID  = "correlation-id"
	HdrType           = "type"
	HdrSelector       = "selector"
	HdrClientID       = "client-id"
	HdrBrowser        = "browser"
	HdrPrefetchSize   = "activemq.prefetchSize"
	HdrConsumerWindow = "consumer-window-size"
	HdrDuplicateID    = "_AMQ_DUPL_ID"
	HdrRoutingType    = "destination-type"
	HdrSubscriptionNm = "durable-subscription-name"
)

// internCommand returns the shared constant for a valid command line, or ""
// when b is not a STOMP command. A switch on string(b) compiles to
// comparisons without converting b, so recognising a command allocates
// nothing; it also keeps the set of commands out of mutable package state.
func internCommand[T string | []byte](b T) string {
	switch string(b) {
	case CmdConnect:
		return CmdConnect
	case CmdStomp:
		return CmdStomp
	case CmdSend:
		return CmdSend
	case CmdSubscribe:
		return CmdSubscribe
	case CmdUnsubscribe:
		return CmdUnsubscribe
	case CmdAck:
		return CmdAck
	case CmdNack:
		return CmdNack
	case CmdBegin:
		return CmdBegin
	case CmdCommit:
		return CmdCommit
	case CmdAbort:
		return CmdAbort
	case CmdDisconnect:
		return CmdDisconnect
	case CmdConnected:
		return CmdConnected
	case CmdMessage:
		return CmdMessage
	case CmdReceipt:
		return CmdReceipt
	case CmdError:
		return CmdError
	}
	return ""
}

// isKnownCommand reports whether cmd is a STOMP command.
func isKnownCommand(cmd string) bool {
	return internCommand(cmd) != ""
}

// internKey returns the shared constant for a common header name, or "" when
// b is not one, so that the usual headers cost no allocation per frame.
func internKey[T string | []byte](b T) string {
	switch string(b) {
	case HdrAcceptVersion:
		return HdrAcceptVersion
	case HdrAck:
		return HdrAck
	case HdrContentLength:
		return HdrContentLength
	case HdrContentType:
		return HdrContentType
	case HdrDestination:
		return HdrDestination
	case HdrHeartBeat:
		return HdrHeartBeat
	case HdrHost:
		return HdrHost
	case HdrID:
		return HdrID
	case HdrLogin:
		return HdrLogin
	case HdrMessage:
		return HdrMessage
	case HdrMessageID:
		return HdrMessageID
	case HdrPasscode:
		return HdrPasscode
	case HdrReceipt:
		return HdrReceipt
	case HdrReceiptID:
		return HdrReceiptID
	case HdrServer:
		return HdrServer
	case HdrSession:
		return HdrSession
	case HdrSubscription:
		return HdrSubscription
	case HdrTransaction:
		return HdrTransaction
	case HdrVersion:
		return HdrVersion
	case HdrPersistent:
		return HdrPersistent
	case HdrPriority:
		return HdrPriority
	case HdrExpires:
		return HdrExpires
	case HdrTimestamp:
		return HdrTimestamp
	case HdrRedelivered:
		return HdrRedelivered
	case HdrReplyTo:
		return HdrReplyTo
	case HdrCorrelationID:
		return HdrCorrelationID
	case HdrType:
		return HdrType
	case HdrSelector:
		return HdrSelector
	case HdrClientID:
		return HdrClientID
	case HdrBrowser:
		return HdrBrowser
	case HdrPrefetchSize:
		return HdrPrefetchSize
	case HdrConsumerWindow:
		return HdrConsumerWindow
	case HdrDuplicateID:
		return HdrDuplicateID
	case HdrRoutingType:
		return HdrRoutingType
	case HdrSubscriptionNm:
		return HdrSubscriptionNm
	}
	return ""
}

// neverEscaped reports whether frames with this command carry their headers
// verbatim. STOMP 1.1 and 1.2 exempt CONNECT, STOMP and CONNECTED so that a
// 1.0 peer can still read the handshake.
func neverEscaped(cmd string) bool {
	return cmd == CmdConnect || cmd == CmdStomp || cmd == CmdConnected
}

// Header is one header line of a frame.
type Header struct {
	Key, Value string
}

// Headers is the ordered list of a frame's headers. A key may occur more than
// once; STOMP says the first occurrence is the one that counts, and the
// others are kept so that a frame can be relayed unchanged.
type Headers []Header

// Get returns the value of the first header named key and whether there was
// one.
func (h Headers) Get(key string) (string, bool) {
	for i := range h {
		if h[i].Key == key {
			return h[i].Value, true
		}
	}
	return "", false
}

// Value returns the value of the first header named key, or "" when there is
// none. It suits headers where absent and empty mean the same.
func (h Headers) Value(key string) string {
	v, _ := h.Get(key)
	return v
}

// Add appends a header, keeping any earlier header with the same key (which
// therefore still wins on Get).
func (h *Headers) Add(key, value string) {
	*h = append(*h, Header{Key: key, Value: value})
}

// Set replaces the value of the first header named key, or appends the
// header when there is none. Later repeats of the key are left alone.
func (h *Headers) Set(key, value string) {
	for i := range *h {
		if (*h)[i].Key == key {
			(*h)[i].Value = value
			return
		}
	}
	h.Add(key, value)
}

// Del removes every header named key.
func (h *Headers) Del(key string) {
	out := (*h)[:0]
	for _, hd := range *h {
		if hd.Key != key {
			out = append(out, hd)
		}
	}
	// Clear the tail so removed strings can be collected.
	clear((*h)[len(out):])
	*h = out
}

// Frame is one STOMP frame. A Frame with an empty Command is a heart-beat
// (a bare EOL on the wire) and has no headers or body.
type Frame struct {
	Command string
	Headers Headers
	Body    []byte
}

// IsHeartBeat reports whether f is a heart-beat rather than a real frame.
func (f *Frame) IsHeartBeat() bool { return f.Command == "" }

// String renders f for logs and test failures: the command, the headers and
// the body length, never the body itself (it may be large or binary) and
// never a passcode.
func (f *Frame) String() string {
	if f.IsHeartBeat() {
		return "heart-beat"
	}
	var b strings.Builder
	b.WriteString(f.Command)
	for _, h := range f.Headers {
		b.WriteByte(' ')
		b.WriteString(h.Key)
		b.WriteByte(':')
		if h.Key == HdrPasscode {
			b.WriteString("***")
		} else {
			b.WriteString(strconv.Quote(h.Value))
		}
	}
	fmt.Fprintf(&b, " body=%dB", len(f.Body))
	return b.String()
}

// Version is a STOMP protocol version. Its zero value is V10, the version a
// connection speaks until CONNECT/CONNECTED agree on another.
type Version int

// The protocol versions this codec speaks.
const (
	V10 Version = iota
	V11
	V12
)

// String returns the version as STOMP spells it in headers, e.g. "1.2".
func (v Version) String() string {
	switch v {
	case V10:
		return "1.0"
	case V11:
		return "1.1"
	case V12:
		return "1.2"
	}
	return "Version(" + strconv.Itoa(int(v)) + ")"
}

// SupportedVersions is the accept-version value for a peer that speaks every
// version this codec does.
const SupportedVersions = "1.0,1.1,1.2"

// ParseVersion parses one version as it appears in a CONNECTED frame's
// version header. An empty string means 1.0, as STOMP 1.0 servers send no
// version header.
func ParseVersion(s string) (Version, error) {
	switch strings.TrimSpace(s) {
	case "", "1.0":
		return V10, nil
	case "1.1":
		return V11, nil
	case "1.2":
		return V12, nil
	}
	return V10, fmt.Errorf("%w: version %q is not one of %s", ErrUnsupportedVersion, s, SupportedVersions)
}

// NegotiateVersion picks the highest version in a CONNECT frame's
// accept-version header that this codec speaks. An empty header means the
// peer is a STOMP 1.0 client. Unknown entries (a future "1.3") are skipped.
func NegotiateVersion(acceptVersion string) (Version, error) {
	if strings.TrimSpace(acceptVersion) == "" {
		return V10, nil
	}
	best := Version(-1)
	for tok := range strings.SplitSeq(acceptVersion, ",") {
		v, err := ParseVersion(tok)
		if err != nil || strings.TrimSpace(tok) == "" {
			continue
		}
		best = max(best, v)
	}
	if best < 0 {
		return V10, fmt.Errorf("%w: the client accepts %q, this side speaks %s", ErrUnsupportedVersion, acceptVersion, SupportedVersions)
	}
	return best, nil
}

// ParseHeartBeat parses a heart-beat header value "cx,cy" into its two
// millisecond figures: what the sender can send (cx) and what it wants to
// receive (cy). An empty value means "0,0", no heart-beats.
func ParseHeartBeat(v string) (cx, cy int, err error) {
	if v == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return 0, 0, fmt.Errorf("%w: heart-beat %q must be two numbers separated by a comma, like 10000,10000", ErrBadFrame, v)
	}
	cx, errA := parseMillis(a)
	cy, errB := parseMillis(b)
	if errA != nil || errB != nil {
		return 0, 0, fmt.Errorf("%w: heart-beat %q must hold two non-negative whole numbers of milliseconds", ErrBadFrame, v)
	}
	return cx, cy, nil
}

// parseMillis parses a non-negative decimal that fits in an int, tolerating
// the spaces some clients put after the comma.
func parseMillis(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, errors.New("not a number")
	}
	return strconv.Atoi(s)
}

// FormatHeartBeat renders a heart-beat header value from the interval at
// which this side will send and the interval at which it wants to receive.
// Durations are rounded down to whole milliseconds; zero disables.
func FormatHeartBeat(send, recv time.Duration) string {
	return strconv.FormatInt(send.Milliseconds(), 10) + "," + strconv.FormatInt(recv.Milliseconds(), 10)
}

// NegotiateHeartBeat applies the STOMP heart-beat rule to both sides' wishes.
// localSend and localRecv are what this side offered; remoteSend and
// remoteRecv what the peer's heart-beat header said. The result is how often
// this side must send something (0 = never) and how long it may expect to go
// without hearing from the peer (0 = no check): each is the larger of the two
// figures when both sides want it, else zero.
func NegotiateHeartBeat(localSend, localRecv, remoteSend, remoteRecv time.Duration) (send, recv time.Duration) {
	if localSend > 0 && remoteRecv > 0 {
		send = max(localSend, remoteRecv)
	}
	if localRecv > 0 && remoteSend > 0 {
		recv = max(localRecv, remoteSend)
	}
	return send, recv
}
