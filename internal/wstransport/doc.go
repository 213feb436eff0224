// Package wstransport carries STOMP and MQTT over WebSocket, for web pages
// and for clients that can only reach a broker through HTTP. It serves two
// ways: as a listener protocol on the client port, where an HTTP upgrade
// is told apart from the other protocols by its first bytes (a GET), and
// as an http.Handler on the HTTP port at /stomp and /mqtt. Either way the
// WebSocket subprotocol the client offers (v12.stomp, v11.stomp,
// v10.stomp, stomp, mqtt, mqttv3.1) chooses the protocol adapter that
// serves the connection, which then runs over the WebSocket's messages as
// over a TCP stream (docs/websocket.md).
package wstransport
