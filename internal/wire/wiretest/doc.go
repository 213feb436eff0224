// Package wiretest holds what the tests of tandem's wire codecs share: a
// reader that hands out a stream a few bytes at a time, and the check that
// a codec's answer to "is a whole frame buffered?" (the ingest gate asks it
// before handling a frame on a connection's turn) never leads to a read
// that waits for the peer. Like the codecs, it imports nothing from tandem.
package wiretest
