// Package config owns tandem's broker configuration: the typed Config, its
// defaults, the parsing of an instance's etc/broker.yaml, the validation that
// stops a start on any unknown key or bad value, and the writer that produces
// a readable, commented broker.yaml for tandem create.
//
// The file uses Artemis' names in kebab-case (journal-directory,
// address-settings, ha-policy, cluster-connections, ...), so an Artemis user
// can translate broker.xml line by line; docs/configuration.md documents
// every key. Parsing goes through yaml.Node rather than struct tags so that
// every problem carries its file:line, and so that every problem in a file
// is reported at once instead of one per attempted start.
//
// Relative directories resolve against the instance directory (the parent of
// etc/), and the users file against the directory of broker.yaml; a loaded
// Config holds absolute paths only, so nothing downstream depends on the
// working directory.
package config
