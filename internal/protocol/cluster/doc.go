// Package cluster is the HA control plane between the nodes of a pair: a
// waiting node dials the live's client port, introduces itself (its node
// id, name and endpoints), and holds the connection open with pings; the
// live lists it as a backup for as long as the connection lasts and tells
// its clients, each protocol in its own terms. It depends on no client
// protocol, so a pair whose acceptors serve only AMQP or MQTT announces
// its backups all the same. The wire format is in docs/ha.md ("The
// announce protocol").
package cluster
