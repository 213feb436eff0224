// Package stomp is tandem's STOMP 1.0, 1.1 and 1.2 frame codec: the Frame and
// Headers types, a Reader that parses frames from a byte stream and a Writer
// that encodes them, with header escaping per protocol version, content-length
// bodies, heart-beat EOLs and size limits.
//
// The package owns the wire format only. It knows nothing about sessions,
// subscriptions or the broker, and it imports nothing from tandem, so both the
// server-side protocol adapter (internal/protocol/stomp) and the public Go
// client (client/) use it.
//
// # Wire rules implemented here
//
// A frame is a command line, header lines, an empty line, a body and a NUL
// byte. Lines end in LF or CR LF: STOMP 1.2 allows CR LF and older peers send
// it too, so the reader accepts it in every version and the writer always
// writes LF. Bare EOLs between frames are heart-beats; the reader reports
// each one as a Frame with an empty Command so that the caller can reset its
// read timer. Commands are case-sensitive and must be one of the STOMP
// commands.
//
// Header escaping depends on the negotiated Version: STOMP 1.0 has none, 1.1
// escapes LF, colon and backslash as \n, \c and \\, and 1.2 also escapes CR as
// \r. Any other escape sequence is an error. CONNECT, STOMP and CONNECTED
// frames are never escaped, whatever the version, because they are exchanged
// before a version is agreed. When a header is repeated, the first occurrence
// wins; every occurrence is kept, in order.
//
// A body is read up to the length given by the first content-length header,
// so it may contain NUL bytes, or else up to the first NUL. The writer always
// sets content-length on a frame with a body, so binary bodies survive.
//
// Reader and Writer are not safe for concurrent use; a connection has one
// reading goroutine and serializes its writes.
package stomp
