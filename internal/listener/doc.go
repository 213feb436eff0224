// Package listener accepts client connections on one port for every
// protocol. It reads the first bytes of each connection, asks each
// registered Protocol whether they are its own, and hands the connection,
// with those bytes still unread, to the one that claims it. Connections no
// protocol claims are closed with a log line. The package imports no
// protocol: protocols register themselves through the Protocol interface.
package listener
