package stomp

import (
	"fmt"
	"strings"

	"tandem/internal/message"
)

// destination is a parsed STOMP destination.
type destination struct {
	address string
	queue   string // set for an Artemis fully qualified queue name address::queue
	rt      message.RoutingType
	temp    bool
}

// parseDestination understands /queue/X, /topic/X, /temp-queue/X,
// /temp-topic/X, queue://X, topic://X and a bare X, whose routing type
// comes from typeHeader (ANYCAST or MULTICAST) or defaults to anycast.
func parseDestination(d, typeHeader string) (destination, error) {
	var out destination
	switch {
	case d == "":
		return out, fmt.Errorf("the destination header is missing or empty; send e.g. destination:/queue/orders")
	case strings.HasPrefix(d, "/queue/"):
		out.address = d[len("/queue/"):]
	case strings.HasPrefix(d, "/topic/"):
		out.address, out.rt = d[len("/topic/"):], message.Multicast
	case strings.HasPrefix(d, "/temp-queue/"):
		out.address, out.temp = d[len("/temp-queue/"):], true
	case strings.HasPrefix(d, "/temp-topic/"):
		out.address, out.rt, out.temp = d[len("/temp-topic/"):], message.Multicast, true
	case strings.HasPrefix(d, "queue://"):
		out.address = d[len("queue://"):]
	case strings.HasPrefix(d, "topic://"):
		out.address, out.rt = d[len("topic://"):], message.Multicast
	default:
		out.address = d
		if typeHeader != "" {
			rt, ok := message.ParseRoutingType(typeHeader)
			if !ok {
				return out, fmt.Errorf("routing type %q is neither ANYCAST nor MULTICAST", typeHeader)
			}
			out.rt = rt
		}
	}
	if i := strings.Index(out.address, "::"); i >= 0 {
		out.queue = out.address[i+2:]
		out.address = out.address[:i]
	}
	if out.address == "" {
		return out, fmt.Errorf("destination %q names no address", d)
	}
	return out, nil
}
