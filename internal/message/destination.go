package message

import "strings"

// DestKind says what kind of destination a reply-to names.
type DestKind uint8

// Destination kinds.
const (
	DestQueue DestKind = iota
	DestTopic
	DestTempQueue
	DestTempTopic
)

// destPrefixes are the canonical spellings, indexed by DestKind: the
// ActiveMQ Classic and Artemis JMS URI forms, which every adapter can parse.
var destPrefixes = [...]string{"queue://", "topic://", "temp-queue://", "temp-topic://"}

// Destination is a protocol-neutral destination, as a reply-to carries it.
type Destination struct {
	Kind DestKind
	Name string
}

// RoutingType returns how the destination's address routes.
func (d Destination) RoutingType() RoutingType {
	if d.Kind == DestTopic || d.Kind == DestTempTopic {
		return Multicast
	}
	return Anycast
}

// Temporary reports whether the destination is a temporary queue or topic.
func (d Destination) Temporary() bool { return d.Kind == DestTempQueue || d.Kind == DestTempTopic }

// String returns the canonical spelling stored in Message.ReplyTo:
// queue://X, topic://X, temp-queue://X or temp-topic://X.
func (d Destination) String() string { return destPrefixes[d.Kind] + d.Name }

// ParseDestination reads a reply-to in any spelling a protocol may have
// stored: the canonical URI forms, and STOMP's /queue/X, /topic/X,
// /temp-queue/X and /temp-topic/X. ok is false for any other text (a bare
// name, say), which callers keep as it is.
func ParseDestination(s string) (d Destination, ok bool) {
	for k, p := range destPrefixes {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return Destination{Kind: DestKind(k), Name: s[len(p):]}, true
		}
	}
	for k, p := range [...]string{"/queue/", "/topic/", "/temp-queue/", "/temp-topic/"} {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return Destination{Kind: DestKind(k), Name: s[len(p):]}, true
		}
	}
	return Destination{}, false
}
