// Package largemsg keeps the bodies of large messages in the
// large-messages directory, one file per body, named by a number that is
// unique within the store. It implements store.LargeStore.
//
// A body is written to NUMBER.tmp and renamed to NUMBER.msg once complete
// and synced, so a crash leaves either a whole body or a .tmp file that
// the next start removes. The broker journals the message (headers and the
// body's number) only after Commit, and deletes the body only once the
// record that makes it unreachable (the message's deletion) is durable; a
// crash in between leaves an orphan body, which the broker deletes at its
// next start.
//
// Every creation, write, rename, link and deletion is a section of the
// broker's fence (store.Fence): once a shared-store node is fenced, the
// directory does not change any more.
package largemsg
