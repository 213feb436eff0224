// Package storecheck verifies and repairs a stopped broker's store offline,
// for `tandem data verify` and `tandem data repair`: both journals, the page
// files and the large-message bodies, and how they refer to each other.
//
// Verify changes nothing. It reports what a start would refuse (corruption
// in a journal or a page file), what a start fixes by itself (a torn write
// at the end, unfinished bodies, bodies no message names), and what no
// start fixes (a message whose large body is missing).
//
// Repair cuts the store back to its last consistent point and keeps
// everything it removes in a backup directory, with a REPAIR.txt saying
// what was removed and why: each journal is cut at its first corruption
// (journal.Repair), each address's page files at theirs (paging.Repair),
// the records of messages whose body is missing are deleted, and bodies no
// message names are moved out. The caller holds the store lock.
package storecheck
