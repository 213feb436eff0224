// Package hostile holds integration tests in which clients misbehave on
// purpose: floods of connections, oversized and malformed frames, too many
// headers or subscriptions, consumers that stop reading, peers that vanish
// without closing (half-open TCP), and clients that connect and say
// nothing. The broker, the STOMP server and the listener run in the test's
// process, so the tests can measure memory and goroutines while they
// attack. The package has no non-test code; docs/reliability.md reports
// the figures.
package hostile
