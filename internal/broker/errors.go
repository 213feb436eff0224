package broker

import "errors"

// Sentinel errors returned by the broker. Adapters map them to protocol
// errors; their text is written for the person at the client.
var (
	ErrClosed           = errors.New("broker is shutting down")
	ErrSessionClosed    = errors.New("session is closed")
	ErrNoSuchQueue      = errors.New("no such queue")
	ErrNoSuchAddress    = errors.New("no such address")
	ErrAutoCreateDenied = errors.New("auto-creation is disabled for this address by address-settings")
	ErrUnknownDelivery  = errors.New("unknown or already acknowledged delivery")
	ErrNoSuchTx         = errors.New("no such transaction")
	ErrTxExists         = errors.New("transaction already begun")
	ErrTxRolledBack     = errors.New("transaction was rolled back")
	ErrMaxConsumers     = errors.New("queue has reached its max-consumers limit")
	ErrExclusiveBusy    = errors.New("queue already has an exclusive consumer")
	ErrAddressFull      = errors.New("address is full (address-full-policy FAIL)")
	ErrBadDestination   = errors.New("bad destination name")
	ErrDurableNeedsID   = errors.New("a durable subscription needs a client-id on the connection and a subscription name")
	ErrSubscriptionBusy = errors.New("durable subscription already has an active subscriber")
	ErrForbidden        = errors.New("permission denied")
	ErrTempInUse        = errors.New("temporary destination has active consumers")
)
