// Package largemsg keeps the bodies of large messages in the
// large-messages directory, one file per body, named by a number that is
// unique within the store. It implements store.LargeStore.
//
// A body is written to NUMBER.tmp and renamed to NUMBER.msg once complete
// and synced, so a crash leaves either a whole body or a .tmp file that
// the next start removes. The broker journals the message (headers and the
// body's number) only after Commit, and deletes the body once no queue
// holds the message any more.
package largemsg
