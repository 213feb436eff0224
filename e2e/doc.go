// Package e2e holds black-box tests that build the real tandem binary and
// drive it as a user would: create instances, run brokers as processes,
// kill them with SIGKILL, and use the CLI and the Go client against them.
package e2e
