package amqp

// Optional is a field that may be absent (null on the wire) and whose zero
// value is meaningful, so that zero cannot stand for "absent": channel-max
// 0 allows one channel, link-credit 0 stops a link, delivery-id 0 is the
// first delivery. It is a value, not a pointer, so that decoding the
// frames of the hot path (transfer, flow, disposition) allocates nothing
// for it.
type Optional[T any] struct {
	Value T
	Set   bool
}

// Some returns a set Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, Set: true} }

// Get returns the value and whether it is set.
func (o Optional[T]) Get() (T, bool) { return o.Value, o.Set }

// Or returns the value when set, else def (the field's default).
func (o Optional[T]) Or(def T) T {
	if o.Set {
		return o.Value
	}
	return def
}
