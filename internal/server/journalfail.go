package server

import (
	"errors"
	"fmt"
)

// ErrJournalFailed is returned by Run when the journal stopped writing
// after an I/O error (a failed write or fsync): the process must exit so
// that the journal is replayed by a fresh start, here or on the backup.
var ErrJournalFailed = errors.New("the journal stopped writing after an I/O error")

// journalFailed stops the broker when its journal fails for good. Such a
// node refuses every persistent send and acknowledgement, so serving on
// would only hold clients, and in a shared-store pair the live lock, hostage:
// stopping lets the backup take over, or a supervisor restart the broker,
// and the replay recovers everything that was confirmed. A full disk while
// new journal files are prepared is not such a failure: the journal stays
// open and sends resume when space returns.
func (s *Server) journalFailed(err error) {
	s.log.Error("the journal stopped writing after an I/O error; stopping the broker so that a restart (or the backup) recovers from the journal",
		"event", "journal_failed", "err", err)
	select {
	case s.serveErr <- fmt.Errorf("%w: %w", ErrJournalFailed, err):
	default: // a stop is already under way
	}
}
