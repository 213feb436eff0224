// Package journal is tandem's durable store: a generic, segmented, append-only
// log of opaque typed records, with group commit, crash recovery, reclaim of dead
// files and compaction. It knows nothing about messages or queues; the broker's
// store (internal/store/filestore) gives meaning to record types and payloads.
//
// # Model
//
// A record has a caller-chosen 64-bit ID, an 8-bit type and a payload. OpAdd
// creates it, OpUpdate appends updates to it, OpDelete kills it together with
// its updates. Operations are written in batches; a batch is atomic across
// crashes. Open replays the journal and hands every live record to a callback.
//
// # Files
//
// The journal lives in a directory as pre-allocated files of Options.FileSize
// bytes named <prefix>-<seq>.tj, each with a header (magic, format version,
// sequence number, generation, fencing epoch) followed by CRC-32C protected
// frames. The format, and the rules for telling a torn write from corruption,
// for reclaiming files and for compacting them, are written down in
// docs/journal-format.md; that document is the contract, this package its
// implementation. A golden journal in testdata/golden keeps the two honest.
//
// # Writing
//
// One writer goroutine owns the files and the in-memory index. Write and
// WriteAsync queue a batch and the writer takes everything queued at once,
// encodes it into one buffer, issues one write(2) and, if any batch asked for
// durability and Options.Sync is set, one fdatasync(2) — group commit — and only
// then reports success. A failed write or sync stops the journal for good
// (ErrFailed) rather than guess what reached the disk; reopening recovers.
//
// Where the file system allows it and Options.Sync is set, that write uses
// direct I/O (DirectFS): it goes to the device without a copy into the page
// cache, so the fdatasync after it only flushes the device's cache. Direct
// writes must cover whole 4 KiB blocks, so the writer keeps the current
// file's last partial block in memory and rewrites it (direct.go).
//
// WriteInline lets a caller that would only wait do that work itself when
// the journal is idle, saving the hand-off to the writer goroutine and back;
// a mutex (runMu) gives the writer's state to one of them at a time.
//
// A second goroutine prepares ready files and retires dead ones, so rolling over
// to a new file does not wait for a file to be created and zero-filled. A third,
// started on demand, copies live records out of sparse files (compaction).
//
// # Fencing
//
// Shared-store HA gives each activation an epoch. Open stamps it into every file
// it creates and reports the highest epoch on disk (MaxEpoch). Fence stops all
// writing at once when the node learns it is no longer the live one.
//
// # Testing seams
//
// All file access goes through the FS interface. OSFS is the real one; FaultFS
// wraps any FS to inject write and sync errors, short writes, ENOSPC and
// simulated crashes, for this package's tests and for those of its users. Scan
// reads a journal offline, for `tandem data print` and `tandem data verify`.
package journal
