// Package openwire is tandem's codec for OpenWire, the native protocol of
// ActiveMQ Classic and of its JMS client: the frames, the WireFormatInfo
// negotiation, every command the JMS client sends or expects, and the
// encodings of message properties and bodies.
//
// The package owns the wire format only. It knows nothing about sessions,
// subscriptions or the broker and imports nothing from tandem, so both the
// broker's protocol adapter and a Go OpenWire client are built on it.
//
// # What is implemented
//
// OpenWire versions 10 to 12 (MinVersion, MaxVersion), whose loose layouts
// are the same for every command here, in loose encoding only, without the
// marshal cache, with a size prefix on every frame. A broker gets there by
// proposing tight encoding, caching and stack traces off
// (DefaultBrokerWireFormat): each side ANDs the two proposals, so the Java
// client then speaks loose, uncached OpenWire in both directions. The first
// WireFormatInfo of each side is always loose. A frame that is tightly
// encoded or cached anyway does not parse as loose — a boolean byte other
// than 0 or 1, bytes left over, a nested object of the wrong type — and is
// refused with ErrMalformed rather than misread. docs/openwire.md describes
// the wire behaviour in full.
//
// # Using it
//
// A broker reads with a Reader and writes with a Writer:
//
//	r := openwire.NewReader(conn, openwire.ReaderOptions{MaxFrameSize: limit})
//	w := openwire.NewWriter(conn)
//	first, err := r.ReadCommand() // a *WireFormatInfo
//	answer, agreed, err := openwire.AnswerClient(first.(*openwire.WireFormatInfo), openwire.DefaultBrokerWireFormat(limit))
//	w.SetMaxFrameSize(agreed.MaxFrameSize)
//	w.WriteCommand(answer)
//	w.Flush()
//	for {
//		cmd, err := r.ReadCommand()
//		switch c := cmd.(type) {
//		case *openwire.ConnectionInfo: ...
//		case *openwire.Message: ...
//		}
//	}
//
// Commands are plain structs whose fields follow the Java classes; each
// embeds BaseCommand (command ID, response required). Message keeps its
// properties and body encoded (MarshalledProperties, Content), so that a
// message passes through untouched; Properties, Text, MapBody, StreamBody
// and UncompressedContent decode them and the Set methods encode them.
// Primitive maps (properties, MapMessage bodies, WireFormatInfo options)
// are *Map values of typed Values that keep Java's exact types and the
// order of the entries, so a map decoded and encoded again is identical byte
// for byte. Strings travel in Java's modified UTF-8 and are converted to and
// from Go's UTF-8.
//
// # Golden files
//
// testdata/golden holds frames captured from ActiveMQ's own client and
// broker (5.17.2), one per command and variant; the tests decode each and
// encode it back to the same bytes. testdata/capture regenerates them.
package openwire
