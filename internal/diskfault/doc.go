// Package diskfault holds integration tests that run the broker on a journal
// whose file system fails: a full disk, write and fsync errors, short
// writes. They assemble the real store, broker, STOMP server and listener in
// one process, drive them with the Go client, inject the fault through the
// journal's file-system seam, and check that no send is confirmed that is
// not on disk, that consumers keep being served, that the broker recovers
// when the disk does, and that a crash in any of these states leaves a
// journal that recovers to exactly what was confirmed. The package has no
// non-test code besides this comment; docs/reliability.md reports its
// findings.
package diskfault
