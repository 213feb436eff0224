package openwire

import "strings"

// Destination is a queue, a topic, or a temporary queue or topic: Java's
// ActiveMQDestination and its four concrete classes. Kind is TypeQueue,
// TypeTopic, TypeTempQueue or TypeTempTopic.
//
// A composite destination is a single destination whose name lists several,
// separated by commas ("A,B" or "queue://A,topic://B"); Members splits it.
type Destination struct {
	Kind  DataType
	Name  string
	empty nullMask
}

// Prefixes Java uses to qualify a destination name with its kind, in
// composite names and in toString.
const (
	QueuePrefix     = "queue://"
	TopicPrefix     = "topic://"
	TempQueuePrefix = "temp-queue://"
	TempTopicPrefix = "temp-topic://"
)

// NewQueue returns a queue destination.
func NewQueue(name string) *Destination { return &Destination{Kind: TypeQueue, Name: name} }

// NewTopic returns a topic destination.
func NewTopic(name string) *Destination { return &Destination{Kind: TypeTopic, Name: name} }

// NewTempQueue returns a temporary queue destination.
func NewTempQueue(name string) *Destination { return &Destination{Kind: TypeTempQueue, Name: name} }

// NewTempTopic returns a temporary topic destination.
func NewTempTopic(name string) *Destination { return &Destination{Kind: TypeTempTopic, Name: name} }

// DataType returns the destination's kind.
func (x *Destination) DataType() DataType { return x.Kind }
func (x *Destination) isNil() bool        { return x == nil }

// IsQueue reports whether x is a queue or a temporary queue.
func (x *Destination) IsQueue() bool { return x.Kind == TypeQueue || x.Kind == TypeTempQueue }

// IsTopic reports whether x is a topic or a temporary topic.
func (x *Destination) IsTopic() bool { return x.Kind == TypeTopic || x.Kind == TypeTempTopic }

// IsTemporary reports whether x is a temporary queue or topic.
func (x *Destination) IsTemporary() bool { return x.Kind == TypeTempQueue || x.Kind == TypeTempTopic }

// IsComposite reports whether the name lists several destinations.
func (x *Destination) IsComposite() bool { return strings.Contains(x.Name, ",") }

// Members returns the destinations a composite name lists, in order and
// without repeats. A member may carry a kind prefix ("topic://B"); one
// without takes x's kind. Blank members are skipped, as Java does. For a
// destination that is not composite, Members returns x alone.
func (x *Destination) Members() []*Destination {
	if !x.IsComposite() {
		return []*Destination{x}
	}
	var out []*Destination
	seen := make(map[Destination]bool)
	for part := range strings.SplitSeq(x.Name, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d := ParseDestination(part, x.Kind)
		if seen[*d] {
			continue
		}
		seen[*d] = true
		out = append(out, d)
	}
	return out
}

// ParseDestination turns a possibly qualified name ("queue://A",
// "temp-topic://B", or a bare "C") into a destination, using kind for a bare
// name.
func ParseDestination(name string, kind DataType) *Destination {
	for _, p := range []struct {
		prefix string
		kind   DataType
	}{{QueuePrefix, TypeQueue}, {TopicPrefix, TypeTopic}, {TempQueuePrefix, TypeTempQueue}, {TempTopicPrefix, TypeTempTopic}} {
		if rest, ok := strings.CutPrefix(name, p.prefix); ok {
			return &Destination{Kind: p.kind, Name: rest}
		}
	}
	return &Destination{Kind: kind, Name: name}
}

// String returns the qualified name, such as "queue://orders".
func (x *Destination) String() string {
	switch x.Kind {
	case TypeQueue:
		return QueuePrefix + x.Name
	case TypeTopic:
		return TopicPrefix + x.Name
	case TypeTempQueue:
		return TempQueuePrefix + x.Name
	case TypeTempTopic:
		return TempTopicPrefix + x.Name
	}
	return x.Name
}

func (x *Destination) marshal(e *encoder) {
	if !x.Kind.IsDestination() {
		e.fail("a destination of kind %v", x.Kind)
		return
	}
	s := e.strings(x.empty)
	s.put(x.Name)
}

func (x *Destination) unmarshal(d *decoder) {
	s := d.strings(&x.empty)
	x.Name = s.next()
}
