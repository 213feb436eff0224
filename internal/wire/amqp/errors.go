package amqp

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the codec returns wraps exactly one of them,
// so a caller can pick the AMQP condition to answer with (see the comment
// on each) using errors.Is.
var (
	// ErrDecode: bytes that are not a valid AMQP encoding, a value of the
	// wrong type for a field, a missing mandatory field, or data cut short.
	// The engine answers amqp:decode-error.
	ErrDecode = errors.New("amqp: decode error")
	// ErrUnknownPerformative: a frame body whose descriptor names no
	// performative of its frame type. The engine answers amqp:decode-error
	// (the peer speaks something tandem does not understand).
	ErrUnknownPerformative = errors.New("amqp: unknown performative")
	// ErrFraming: a frame header that is impossible (size below 8, data
	// offset below 2 or past the frame's end, an unknown frame type). The
	// engine answers amqp:connection:framing-error.
	ErrFraming = errors.New("amqp: framing error")
	// ErrFrameTooLarge: a frame above the negotiated max-frame-size. The
	// engine answers amqp:connection:framing-error.
	ErrFrameTooLarge = errors.New("amqp: frame larger than max-frame-size")
	// ErrBadHeader: a protocol header that is not one this codec speaks.
	ErrBadHeader = errors.New("amqp: bad protocol header")
	// ErrBadMessage: a message whose sections are unknown, repeated or out
	// of order, or whose body mixes section kinds. The engine rejects the
	// delivery with amqp:decode-error.
	ErrBadMessage = errors.New("amqp: malformed message")
	// ErrMessageTooLarge: a delivery, assembled from its transfers, above
	// the link's max-message-size. The engine detaches the link with
	// amqp:link:message-size-exceeded.
	ErrMessageTooLarge = errors.New("amqp: message larger than max-message-size")
	// ErrTransferSequence: a transfer that does not continue the delivery
	// in progress on its link (another delivery-id, a first transfer
	// without a delivery-id). The engine answers amqp:session:errant-link
	// or amqp:illegal-state.
	ErrTransferSequence = errors.New("amqp: transfer out of sequence")
	// ErrEncode: a value the codec cannot encode (an unsupported Go type, a
	// value too long for its encoding, a frame that cannot fit the peer's
	// max-frame-size). It is always a programming error on tandem's side.
	ErrEncode = errors.New("amqp: cannot encode")
)

// decodeErr builds an error wrapping ErrDecode.
func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrDecode}, args...)...)
}

// encodeErr builds an error wrapping ErrEncode.
func encodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrEncode}, args...)...)
}

// fieldErr says which field of which composite failed to decode.
func fieldErr(composite, field string, err error) error {
	return fmt.Errorf("%s.%s: %w", composite, field, err)
}

// Condition is an AMQP error condition: a symbol saying what went wrong.
type Condition = Symbol

// The error conditions defined by the AMQP 1.0 specification (part 2,
// sections 2.8.15 to 2.8.18).
const (
	// Generic conditions.
	ErrorInternal              Condition = "amqp:internal-error"
	ErrorNotFound              Condition = "amqp:not-found"
	ErrorUnauthorizedAccess    Condition = "amqp:unauthorized-access"
	ErrorDecode                Condition = "amqp:decode-error"
	ErrorResourceLimitExceeded Condition = "amqp:resource-limit-exceeded"
	ErrorNotAllowed            Condition = "amqp:not-allowed"
	ErrorInvalidField          Condition = "amqp:invalid-field"
	ErrorNotImplemented        Condition = "amqp:not-implemented"
	ErrorResourceLocked        Condition = "amqp:resource-locked"
	ErrorPreconditionFailed    Condition = "amqp:precondition-failed"
	ErrorResourceDeleted       Condition = "amqp:resource-deleted"
	ErrorIllegalState          Condition = "amqp:illegal-state"
	ErrorFrameSizeTooSmall     Condition = "amqp:frame-size-too-small"

	// Connection conditions.
	ErrorConnectionForced Condition = "amqp:connection:forced"
	ErrorFramingError     Condition = "amqp:connection:framing-error"
	ErrorConnRedirect     Condition = "amqp:connection:redirect"

	// Session conditions.
	ErrorWindowViolation  Condition = "amqp:session:window-violation"
	ErrorErrantLink       Condition = "amqp:session:errant-link"
	ErrorHandleInUse      Condition = "amqp:session:handle-in-use"
	ErrorUnattachedHandle Condition = "amqp:session:unattached-handle"

	// Link conditions.
	ErrorDetachForced          Condition = "amqp:link:detach-forced"
	ErrorTransferLimitExceeded Condition = "amqp:link:transfer-limit-exceeded"
	ErrorMessageSizeExceeded   Condition = "amqp:link:message-size-exceeded"
	ErrorLinkRedirect          Condition = "amqp:link:redirect"
	ErrorStolen                Condition = "amqp:link:stolen"

	// Transaction conditions (part 4, section 4.5.8).
	ErrorTransactionUnknownID Condition = "amqp:transaction:unknown-id"
	ErrorTransactionRollback  Condition = "amqp:transaction:rollback"
	ErrorTransactionTimeout   Condition = "amqp:transaction:timeout"
)

// Error is the AMQP error composite carried by detach, end, close and the
// rejected outcome. It implements the error interface so that the engine
// can return it and the client can surface it.
type Error struct {
	Condition   Condition
	Description string
	Info        Map // keys are Symbols
}

// Error formats the condition and the description.
func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Condition)
	}
	return string(e.Condition) + ": " + e.Description
}

// NewError builds an Error with a formatted description.
func NewError(cond Condition, format string, args ...any) *Error {
	return &Error{Condition: cond, Description: fmt.Sprintf(format, args...)}
}

// ConditionFor picks the condition the engine should answer with when the
// codec returned err: framing errors close the connection with
// amqp:connection:framing-error, oversized messages with
// amqp:link:message-size-exceeded, everything else the peer sent wrong is a
// decode error, and anything else is internal.
func ConditionFor(err error) Condition {
	var amqpErr *Error
	switch {
	case errors.As(err, &amqpErr):
		return amqpErr.Condition
	case errors.Is(err, ErrFraming), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrBadHeader):
		return ErrorFramingError
	case errors.Is(err, ErrMessageTooLarge):
		return ErrorMessageSizeExceeded
	case errors.Is(err, ErrDecode), errors.Is(err, ErrUnknownPerformative), errors.Is(err, ErrBadMessage):
		return ErrorDecode
	case errors.Is(err, ErrTransferSequence):
		return ErrorIllegalState
	default:
		return ErrorInternal
	}
}
