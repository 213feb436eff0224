// Package perf is the load generator behind `tandem perf`. It drives any
// STOMP 1.0–1.2 broker — tandem, ActiveMQ Classic, Artemis — with the same
// load, so that figures from different brokers can be compared side by side.
//
// A run opens one connection per producer and one per consumer. Producers
// send fixed-size bodies, persistent or not, optionally in transactions, and
// either as fast as the confirmation window allows or at a fixed total rate.
// Persistent sends (and transaction commits) carry a STOMP receipt request;
// the broker's RECEIPT is the confirmation. Consumers subscribe with
// automatic acknowledgement, or acknowledge each message (or every n-th,
// cumulatively) with a prefetch bound, as reliable applications do. With
// the broker's process id, its CPU time over the measured window is read
// from /proc and reported per message. RunIdle opens many idle
// connections and reports what holding them costs the broker.
//
// Two latencies are recorded in HDR histograms (github.com/HdrHistogram):
// send-to-confirm, from the moment a message was due to be sent to the
// RECEIPT that covers it, and end-to-end, from the same moment to its
// arrival at a consumer (the due time travels in a message header; producer
// and consumer share one clock because they run in one process). In
// fixed-rate mode the due time is the message's slot in the schedule, not
// the moment the producer managed to send it, so a stalled broker shows up
// as latency for every message that should have been sent during the stall
// instead of silently lowering the send rate — the correction for
// coordinated omission.
//
// The package speaks STOMP itself, on top of tandem/internal/wire/stomp,
// rather than through tandem/client: a load generator needs the outcome of
// every single send (client.Conn reports only the first failure of a send
// window and no per-send timing), and it must add as little CPU of its own
// as possible, since it shares the machine with the broker it measures.
package perf
