// Package paging keeps the messages an address cannot hold in memory in
// page files on disk, in order, and reads them back: the address-full
// policy PAGE. It implements store.Pager and store.PageStore.
//
// Each address has a directory of its own under the paging directory,
// named by a hash of the address and holding an address.txt with the name,
// and a sequence of numbered page files. A page file is a header and then
// records, each checksummed; docs/paging-format.md describes the bytes.
// Appends go through one writer goroutine per address that writes
// everything pending with one write and one fdatasync (group commit). A
// torn record at the end of the last page is cut off when the store opens;
// a bad record anywhere else is an error naming the file and offset.
//
// Every write, file creation and deletion, and every run of append
// completions, is a section of the broker's fence (store.Fence,
// Options.Fence): once a shared-store node is fenced, no page file changes
// and no append is confirmed, including one whose fdatasync was in flight.
//
// The package knows nothing about queues or acknowledgements: the broker
// remembers how far it has read (a page cursor in the journal) and calls
// Release for the pages wholly behind it.
package paging
