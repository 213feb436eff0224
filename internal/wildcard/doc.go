// Package wildcard matches addresses against Artemis-style wildcard
// patterns: words separated by '.', where a '*' word matches exactly one
// word and a '#' word matches zero or more. The broker uses it to route
// messages to wildcard subscriptions and the security settings to find the
// rules of an address, so both read a pattern the same way.
package wildcard
