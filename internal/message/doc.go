// Package message defines the protocol-neutral Message that flows through the
// broker, the store and every protocol adapter. It is a leaf: it imports
// nothing from tandem, so every other package may depend on it.
package message
