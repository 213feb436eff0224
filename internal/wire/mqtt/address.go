package mqtt

import "strings"

// RetainAddressPrefix starts the addresses where Artemis keeps retained
// messages ("$sys.mqtt.retain.<address>"); AddressToTopic drops it.
const RetainAddressPrefix = "$sys.mqtt.retain."

// The mapping between MQTT topics and tandem addresses is Artemis' (its
// MQTTUtil.convertMqttTopicFilterToCoreAddress and
// convertCoreAddressToMqttTopicFilter, which apply
// WildcardConfiguration.convert between an MQTT syntax of '/', '+', '#' and
// the core syntax of '.', '*', '#', with '\' as the escape character), so
// that MQTT, STOMP, OpenWire and AMQP clients meet on the same addresses as
// they do on Artemis. The rules, for a topic without a backslash:
//
//	MQTT  → address      address → MQTT
//	'/'   → '.'          '.'     → '/'
//	'+'   → '*'          '*'     → '+'
//	'#'   → '#'          '#'     → '#'
//	'.'   → "\."         "\."    → '.'
//	'*'   → "\*"         "\*"    → '*'
//	                     '/'     → "\/"  (only when the address has no escapes)
//	                     '+'     → "\+"  (likewise)
//
// Backslashes follow Artemis' rule: if the input already contains an
// escape sequence of its own syntax (a backslash before '/', '+' or '#' in
// MQTT; before '.', '*' or '#' in an address), it is taken as escaped: its
// unescaped special characters are converted and its escape sequences are
// then unescaped. Otherwise every backslash is doubled and the other
// side's special characters are escaped before converting. For topics and
// addresses without backslashes the two directions are inverses.

// mqttSyntax and coreSyntax are the special characters of each side:
// delimiter, single-level wildcard, multi-level wildcard.
type syntax struct{ delim, one, any byte }

var (
	mqttSyntax = syntax{'/', '+', '#'}
	coreSyntax = syntax{'.', '*', '#'}
)

// TopicToAddress maps an MQTT topic name or topic filter to a tandem
// address or address pattern, as Artemis does: "sensors/+/temp" becomes
// "sensors.*.temp", "a/#" becomes "a.#", and a literal '.' in a topic
// becomes "\." so that it is not read as a delimiter. A shared
// subscription filter must be split first (SplitShared); the "$share/"
// prefix is not special here.
func TopicToAddress(topic string) string { return convert(topic, mqttSyntax, coreSyntax) }

// AddressToTopic maps a tandem address back to an MQTT topic name, as
// Artemis does, after dropping RetainAddressPrefix: "sensors.a.temp"
// becomes "sensors/a/temp" and "a\.b" becomes "a.b".
func AddressToTopic(address string) string {
	address = strings.TrimPrefix(address, RetainAddressPrefix)
	return convert(address, coreSyntax, mqttSyntax)
}

// convert rewrites s from syntax from to syntax to (Artemis'
// WildcardConfiguration.convert).
func convert(s string, from, to syntax) string {
	escaped := hasEscape(s, from)
	var b []byte
	if escaped {
		b = []byte(s)
	} else {
		b = []byte(escapeFor(s, to, from))
	}
	replaceUnescaped(b, from.delim, to.delim)
	replaceUnescaped(b, from.one, to.one)
	replaceUnescaped(b, from.any, to.any)
	if escaped {
		return unescape(string(b), from)
	}
	return string(b)
}

// hasEscape reports whether s contains a backslash followed by one of the
// special characters of syn.
func hasEscape(s string, syn syntax) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\\' {
			switch s[i+1] {
			case syn.delim, syn.one, syn.any:
				return true
			}
		}
	}
	return false
}

// escapeFor escapes, for the target syntax to, the characters that are
// special in to but not in from, after doubling every backslash.
func escapeFor(s string, to, from syntax) string {
	if strings.IndexByte(s, '\\') >= 0 {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	for _, c := range [...][2]byte{{to.delim, from.delim}, {to.one, from.one}, {to.any, from.any}} {
		if c[0] != c[1] && strings.IndexByte(s, c[0]) >= 0 {
			s = strings.ReplaceAll(s, string(c[0]), `\`+string(c[0]))
		}
	}
	return s
}

// replaceUnescaped replaces every c not preceded by a backslash with r.
func replaceUnescaped(b []byte, c, r byte) {
	if c == r {
		return
	}
	for i := range b {
		if b[i] == c && (i == 0 || b[i-1] != '\\') {
			b[i] = r
		}
	}
}

// unescape removes the escapes of syntax syn, in Artemis' order: doubled
// backslashes first, then each escaped special character.
func unescape(s string, syn syntax) string {
	s = strings.ReplaceAll(s, `\\`, `\`)
	for _, c := range [...]byte{syn.delim, syn.one, syn.any} {
		s = strings.ReplaceAll(s, `\`+string(c), string(c))
	}
	return s
}
