// Package amqp is tandem's AMQP 1.0 codec: the type system, protocol
// headers, frames, every performative of the transport, SASL and
// transaction layers, delivery states, termini, and the message format.
// docs/amqp.md describes the wire behaviour it implements.
//
// The package owns the wire format only. It knows nothing of connections,
// sessions, links or the broker, and imports nothing from tandem, so the
// server-side engine (internal/protocol/amqp) and tandem's Go client share
// it.
//
// # Reading
//
// NewReader wraps a connection: ReadProtocolHeader reads the eight-byte
// headers, ReadFrame the frames, refusing one above the max-frame-size
// before setting memory aside for it. DecodePerformative (AMQP frames) and
// DecodeSASL (SASL frames) turn a frame body into a struct; a transfer's
// payload comes back beside it, and an Assembler per link joins the
// payloads of a multi-frame delivery. ParseMessage finds the sections of a
// message and decodes its header and properties.
//
// # Writing
//
// NewWriter buffers headers and frames until Flush. WriteTransfer cuts a
// message into frames that fit the peer's max-frame-size. Sections builds
// a message; Message.AppendForDelivery re-emits a stored message with a
// new header and without its delivery-annotations, byte for byte otherwise.
//
// # Types
//
// Decoded values have these Go types: null nil; boolean bool; ubyte,
// ushort, uint, ulong uint8, uint16, uint32, uint64; byte, short, int,
// long int8, int16, int32, int64; float, double float32, float64;
// decimal32/64/128 Decimal32/64/128 (raw bytes); char Char; timestamp
// Timestamp; uuid UUID; binary []byte; string string; symbol Symbol; list
// List; map Map (ordered, any keys); array Array; a described value
// Described. The composite types of the specification are Go structs
// (Open, Attach, Source, Modified...); fields whose zero value means
// something other than "absent" are Optional.
//
// Decoding is lenient where the specification leaves room or where peers
// differ: composite lists may stop early (the remaining fields take their
// defaults) or run longer (unknown trailing fields are skipped), a
// descriptor may be a ulong or a symbol, an unsigned field may use any
// unsigned encoding whose value fits, and a "multiple" field may be one
// value or an array. It is strict about everything that would make the
// peer and tandem disagree: sizes that overrun, a count larger than the
// bytes that hold it, unknown format codes, missing mandatory fields.
//
// Readers, Writers, Assemblers are not safe for concurrent use; a parsed
// Message is read-only and may be shared.
package amqp
