// Package cli implements tandem's command line: one file per command noun
// (create, run, producer, consumer, browse, data, ...). Every command follows
// the same shape, newXCommand / xOptions / runX(ctx, opts, out), so tests can
// call runX in-process without a subprocess.
package cli
