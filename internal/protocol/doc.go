// Package protocol is the contract between the server and the protocol
// adapters (internal/protocol/stomp and the ones beside it): the one
// authenticator every adapter and the web port use, the per-user
// connection limit they share across protocols, the HA topology each
// adapter renders in its own terms, and Env, what every adapter is built
// with. The server owns the registry that builds adapters per acceptor.
//
// It imports the broker (adapters open broker sessions through Env) and
// the listener (adapters are listener protocols), and nothing else of
// tandem: no adapter, no store.
package protocol
