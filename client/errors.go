package client

import (
	"errors"
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
	// connection broke before the COMMIT went out, or the broker refused
	// the commit.
	ErrTxRolledBack = errors.New("transaction was rolled back")
	// ErrCommitUnknown reports that the connection broke after a COMMIT was
	// sent and before the broker confirmed it, so the transaction may or
	// may not have been committed.
	ErrCommitUnknown = errors.New("connection lost during commit: the transaction may or may not have been committed")
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

// dialError gathers the failures of every broker a Dial tried. Its Error is
// one line, so that a command-line tool can print it as is.
type dialError struct {
	url  string
	errs []error
}

// Error lists each broker's failure on one line.
func (e *dialError) Error() string {
	if len(e.errs) == 1 {
		return "client: " + e.errs[0].Error()
	}
	parts := make([]string, len(e.errs))
	for i, err := range e.errs {
		parts[i] = err.Error()
	}
	return "client: could not connect to any broker of " + e.url + ": " + strings.Join(parts, "; ")
}

// Unwrap exposes each broker's failure to errors.Is and errors.As.
func (e *dialError) Unwrap() []error { return e.errs }
