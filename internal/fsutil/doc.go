// Package fsutil holds the two file-system steps that durable files need
// and that are easy to get subtly wrong: syncing a directory, so that a
// file created, renamed or removed in it survives a power cut, and
// replacing a file atomically, so that a reader or a crash sees either
// the old content or the new, never half of it.
//
// Every package that writes such files (the journal, page files, large
// message bodies, the HA state, the instance's configuration, the users
// file) uses these two functions instead of a copy of its own. It imports
// nothing from tandem, so the lowest packages may use it.
package fsutil
