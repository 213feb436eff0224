// Package procstat reads what Linux's /proc tells about a process: the CPU
// time it has used (user and system, all threads together) and its
// resident memory. The benchmark tools use it to charge a broker's CPU to
// the messages it handled, which a load generator sharing the machine's
// cores cannot blur the way it blurs a rate.
//
// The parsers take the files' bytes, so they are tested on any system;
// reading them needs /proc (Linux).
package procstat
