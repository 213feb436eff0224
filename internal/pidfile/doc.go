// Package pidfile records which process runs a broker instance, so that
// `tandem stop` can find it and a second `tandem run` of the same instance
// is refused. The file holds the process id and is locked (flock) for as
// long as the process runs: the kernel drops the lock when the process
// dies, however it dies, so a file left behind by a killed broker is never
// mistaken for a running one, and a reused process id is never signalled.
package pidfile
