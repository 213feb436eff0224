package openwire

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"tandem/internal/broker"
	wire "tandem/internal/wire/openwire"
)

// The Java exception classes tandem names in ExceptionResponses. The
// client instantiates the class named, with the message, and throws it
// from the call that sent the command, so a JMS application catches the
// same exceptions it would from ActiveMQ Classic.
const (
	classJMSException       = "javax.jms.JMSException"
	classSecurity           = "javax.jms.JMSSecurityException"
	classInvalidClientID    = "javax.jms.InvalidClientIDException"
	classInvalidDestination = "javax.jms.InvalidDestinationException"
	classInvalidSelector    = "javax.jms.InvalidSelectorException"
	classTxRolledBack       = "javax.jms.TransactionRolledBackException"
	classResourceAllocation = "javax.jms.ResourceAllocationException"
	classIllegalState       = "javax.jms.IllegalStateException"
	classXA                 = "javax.transaction.xa.XAException"
	classIOException        = "java.io.IOException"
)

// jmsError is an error the client sees as an instance of a named Java
// exception class.
type jmsError struct {
	class string
	msg   string
	err   error
}

func (e *jmsError) Error() string { return e.msg }
func (e *jmsError) Unwrap() error { return e.err }

// errorf returns an error the client sees as class.
func errorf(class, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &jmsError{class: class, msg: err.Error(), err: errors.Unwrap(err)}
}

// throwable renders err as the exception the client throws: the class a
// jmsError names, or the javax.jms class matching a broker error.
func throwable(err error) *wire.Throwable {
	var je *jmsError
	if errors.As(err, &je) {
		return wire.NewThrowable(je.class, je.msg)
	}
	return wire.NewThrowable(classOf(err), err.Error())
}

// classOf picks the javax.jms exception for a broker error.
func classOf(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, broker.ErrForbidden):
		return classSecurity
	case errors.Is(err, broker.ErrNoSuchQueue), errors.Is(err, broker.ErrNoSuchAddress),
		errors.Is(err, broker.ErrAutoCreateDenied), errors.Is(err, broker.ErrBadDestination):
		return classInvalidDestination
	case strings.HasPrefix(err.Error(), "bad selector"):
		// The broker's refusal of a selector that does not compile (it
		// names no sentinel of its own, and adapters do not import the
		// selector package).
		return classInvalidSelector
	case errors.Is(err, broker.ErrTxRolledBack):
		return classTxRolledBack
	case errors.Is(err, broker.ErrAddressFull), errors.Is(err, syscall.ENOSPC), errors.As(err, &errno):
		return classResourceAllocation
	case errors.Is(err, broker.ErrSubscriptionBusy), errors.Is(err, broker.ErrMaxConsumers),
		errors.Is(err, broker.ErrExclusiveBusy), errors.Is(err, broker.ErrTempInUse), errors.Is(err, broker.ErrDurableNeedsID),
		errors.Is(err, broker.ErrSessionClosed), errors.Is(err, broker.ErrNoSuchTx):
		return classIllegalState
	}
	return classJMSException
}
