package mqtt

import "strings"

// sharePrefix starts a shared subscription's topic filter.
const sharePrefix = "$share/"

// CheckTopicName reports whether name may be the topic of a PUBLISH or a
// will: at least one character, valid MQTT UTF-8 no longer than 65,535
// bytes, and no wildcard ('+' or '#'). The error is an *Error with reason
// code 0x90 (Topic Name invalid), or 0x81 for bad UTF-8.
func CheckTopicName(name string) error {
	if e := checkTopicName(name); e != nil {
		return e
	}
	return nil
}

func checkTopicName(name string) *Error {
	switch {
	case name == "":
		return protocolErrorCode(TopicNameInvalid, "a topic name must not be empty")
	case len(name) > maxString:
		return protocolErrorCode(TopicNameInvalid, "a topic name must not be longer than 65,535 bytes")
	case strings.ContainsAny(name, "+#"):
		return protocolErrorCode(TopicNameInvalid, "the topic name %.100q contains a wildcard ('+' or '#')", name)
	case !validUTF8(name):
		return malformed("the topic name %.100q is not valid MQTT UTF-8", name)
	}
	return nil
}

// CheckTopicFilter reports whether filter is a valid topic filter for
// SUBSCRIBE or UNSUBSCRIBE: at least one character of valid MQTT UTF-8;
// '+' only as a whole level; '#' only as the whole last level; and if it
// starts with "$share/", a share name of at least one character without
// '/', '+' or '#', then '/' and a valid filter. The error is an *Error
// with reason code 0x8F (Topic Filter invalid), the code for a SUBACK or
// UNSUBACK entry.
func CheckTopicFilter(filter string) error {
	if e := checkTopicFilter(filter); e != nil {
		return e
	}
	return nil
}

func filterInvalid(format string, args ...any) *Error {
	return protocolErrorCode(TopicFilterInvalid, format, args...)
}

func checkTopicFilter(filter string) *Error {
	if len(filter) > maxString {
		return filterInvalid("a topic filter must not be longer than 65,535 bytes")
	}
	if !validUTF8(filter) {
		return filterInvalid("the topic filter %.100q is not valid MQTT UTF-8", filter)
	}
	f := filter
	if strings.HasPrefix(filter, sharePrefix) {
		share, inner, ok := SplitShared(filter)
		switch {
		case !ok:
			return filterInvalid("the shared subscription %.100q has no topic filter after its share name", filter)
		case share == "":
			return filterInvalid("the shared subscription %.100q has an empty share name", filter)
		case strings.ContainsAny(share, "+#"):
			return filterInvalid("the share name %.100q contains a wildcard", share)
		}
		f = inner
	}
	if f == "" {
		return filterInvalid("a topic filter must not be empty")
	}
	for level, rest, more := "", f, true; more; {
		level, rest, more = strings.Cut(rest, "/")
		switch {
		case level == "#" && more:
			return filterInvalid("in %.100q, '#' is not the last level", filter)
		case level == "#", level == "+":
		case strings.ContainsAny(level, "+#"):
			return filterInvalid("in %.100q, the level %.100q mixes a wildcard with other characters", filter, level)
		}
	}
	return nil
}

// SplitShared splits a shared subscription filter "$share/<name>/<filter>"
// into the share name and the topic filter. ok is false when filter does
// not start with "$share/" or has no '/' after the share name. It does not
// validate the parts; CheckTopicFilter does.
func SplitShared(filter string) (share, topicFilter string, ok bool) {
	rest, found := strings.CutPrefix(filter, sharePrefix)
	if !found {
		return "", "", false
	}
	share, topicFilter, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", false
	}
	return share, topicFilter, true
}

// MatchTopic reports whether the topic name matches the topic filter, as
// section 4.7 defines: levels separated by '/', '+' matching exactly one
// level (an empty one too), '#' matching the parent level and any number
// of levels below it ("a/#" matches "a"). A filter starting with a
// wildcard does not match a topic starting with '$' ([MQTT-4.7.2-1]), so
// "#" does not see "$SYS/x" but "$SYS/#" does. A shared subscription
// filter matches as its topic filter part. Both arguments are assumed
// valid (see CheckTopicFilter and CheckTopicName).
func MatchTopic(filter, topic string) bool {
	if _, inner, ok := SplitShared(filter); ok {
		filter = inner
	}
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" && !fmore {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !fmore:
			return false
		case !tmore:
			// The topic has no more levels; only a final "#" (zero
			// levels) can still match.
			return frest == "#"
		}
		filter, topic = frest, trest
	}
}
