package client

import (
	"errors"
	"strconv"
	"strings"

	"tandem/internal/wire/stomp"
)

// Sentinel errors. Errors returned by this package wrap one of them (or a
// *BrokerError, or a context error) and say in words what happened.
var (
	// ErrClosed is returned by calls on a Conn after Close.
	ErrClosed = errors.New("connection is closed")
	// ErrConnectionLost reports that the connection to the broker broke:
	// the broker went away, sent an ERROR frame, or stopped heart-beating.
	ErrConnectionLost = errors.New("connection to the broker was lost")
	// ErrConnectRejected reports that the broker answered CONNECT with an
	// ERROR frame, usually for a bad user name or password.
	ErrConnectRejected = errors.New("broker refused the connection")
	// ErrHeartBeatTimeout reports that the broker sent nothing, not even a
	// heart-beat, for longer than the negotiated interval allows.
	ErrHeartBeatTimeout = errors.New("broker sent no data or heart-beat in time")
	// ErrProtocol reports a frame from the broker that makes no sense at
	// that point of the conversation.
	ErrProtocol = errors.New("unexpected frame from the broker")
	// ErrBadURL reports a connection URL that cannot be parsed.
	ErrBadURL = errors.New("bad broker URL")
	// ErrBadDestination reports a destination name that cannot be used.
	ErrBadDestination = errors.New("bad destination")
	// ErrReservedHeader reports an attempt to set a header the client
	// manages itself.
	ErrReservedHeader = errors.New("header is managed by the client")
	// ErrSubscriptionClosed is returned by Receive after Unsubscribe, once
	// the messages already received are consumed.
	ErrSubscriptionClosed = errors.New("subscription is closed")
	// ErrNotSupported reports an operation the negotiated STOMP version
	// lacks, such as NACK on STOMP 1.0.
	ErrNotSupported = errors.New("not supported by the negotiated STOMP version")
	// ErrTxDone is returned when a transaction is used after Commit or
	// Abort.
	ErrTxDone = errors.New("transaction already committed or aborted")
	// ErrTxRolledBack reports a transaction that did not commit: the
	// connection broke before the COMMIT went out (with failover: while
	// the transaction was open, see Tx), or the broker refused the commit.
	ErrTxRolledBack = errors.New("transaction was rolled back")
	// ErrCommitUnknown reports that the connection broke after a COMMIT was
	// sent and before the broker confirmed it, so the transaction may or
	// may not have been committed.
	ErrCommitUnknown = errors.New("connection lost during commit: the transaction may or may not have been committed")
	// ErrReconnectFailed reports that a Conn with a failover URL lost its
	// connection and gave up reconnecting after the attempts the URL
	// allows (maxReconnectAttempts or reconnectAttempts).
	ErrReconnectFailed = errors.New("gave up reconnecting")
	// ErrFailoverTimeout reports a call that waited for a reconnect longer
	// than the URL's timeout option allows. The Conn keeps reconnecting.
	ErrFailoverTimeout = errors.New("failover timeout")
)

// BrokerError is an ERROR frame from the broker, as a Go error.
type BrokerError struct {
	// Message is the ERROR frame's message header: a short description.
	Message string
	// Body is the ERROR frame's body, often a longer explanation.
	Body string
	// ReceiptID is the receipt of the client frame that caused the error,
	// when the broker said which one it was.
	ReceiptID string
	// Headers are all headers of the ERROR frame.
	Headers Headers
}

// maxErrorBody bounds how much of an ERROR body goes into Error(), which is
// meant to be one line in a log or a terminal.
const maxErrorBody = 300

// Error returns the broker's message and, when it adds something, the start
// of the body, folded onto one line.
func (e *BrokerError) Error() string {
	msg := strings.TrimSpace(e.Message)
	body := strings.Join(strings.Fields(e.Body), " ")
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody] + "..."
	}
	switch {
	case msg == "" && body == "":
		return "broker error (no details given)"
	case msg == "":
		return "broker error: " + body
	case body == "" || strings.Contains(msg, body):
		return "broker error: " + msg
	case strings.HasPrefix(body, msg):
		// The message header is often the body's first words, or the body
		// cut short; saying both would repeat them.
		return "broker error: " + body
	}
	return "broker error: " + msg + ": " + body
}

// newBrokerError converts an ERROR frame.
func newBrokerError(f *stomp.Frame) *BrokerError {
	return &BrokerError{
		Message:   f.Headers.Value(stomp.HdrMessage),
		Body:      string(f.Body),
		ReceiptID: f.Headers.Value(stomp.HdrReceiptID),
		Headers:   f.Headers,
	}
}

// rejectedError is the broker's refusal of CONNECT. It matches both
// ErrConnectRejected and the *BrokerError, and says it in one phrase.
type rejectedError struct{ be *BrokerError }

// Error says the broker refused, and why, in one phrase.
func (e *rejectedError) Error() string {
	return ErrConnectRejected.Error() + strings.TrimPrefix(e.be.Error(), "broker error")
}

// Unwrap exposes both the sentinel and the broker's error.
func (e *rejectedError) Unwrap() []error { return []error{ErrConnectRejected, e.be} }

// dialError gathers the failures of every broker the last round of a Dial
// tried. Its Error is one line, so that a command-line tool can print it as
// is.
type dialError struct {
	url      string
	errs     []error
	attempts int // rounds tried
}

// Error lists each broker's failure on one line.
func (e *dialError) Error() string {
	if len(e.errs) == 1 && e.attempts <= 1 {
		return "client: " + e.errs[0].Error()
	}
	parts := make([]string, len(e.errs))
	for i, err := range e.errs {
		parts[i] = err.Error()
	}
	after := ""
	if e.attempts > 1 {
		after = " after " + plural(e.attempts, "attempt")
	}
	return "client: could not connect to any broker of " + e.url + after + ": " + strings.Join(parts, "; ")
}

// Unwrap exposes each broker's failure to errors.Is and errors.As.
func (e *dialError) Unwrap() []error { return e.errs }

// reconnectError is the final error of a Conn whose reconnect gave up.
type reconnectError struct {
	endpoints []string
	attempts  int
	last      error
}

// Error names the brokers, the number of rounds and the last failure, on
// one line.
func (e *reconnectError) Error() string {
	msg := "gave up reconnecting to " + strings.Join(e.endpoints, ", ") + " after " + plural(e.attempts, "attempt")
	if e.last != nil {
		msg += ": last error: " + e.last.Error()
	}
	return msg
}

// Unwrap exposes ErrReconnectFailed, ErrConnectionLost (the Conn is no
// longer connected) and the last failure.
func (e *reconnectError) Unwrap() []error {
	if e.last == nil {
		return []error{ErrReconnectFailed, ErrConnectionLost}
	}
	return []error{ErrReconnectFailed, ErrConnectionLost, e.last}
}

// txFailoverError is the fate of a transaction that was open when a
// failover replaced the connection: the broker rolled it back.
type txFailoverError struct{ cause error }

// Error says what happened and what to do, then why.
func (e *txFailoverError) Error() string {
	return "transaction rolled back by failover; retry it (the connection was lost: " + e.cause.Error() + ")"
}

// Unwrap exposes ErrTxRolledBack. It does not expose ErrConnectionLost:
// the Conn itself carries on.
func (e *txFailoverError) Unwrap() error { return ErrTxRolledBack }

// plural formats a count with its noun, "1 attempt" or "3 attempts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
