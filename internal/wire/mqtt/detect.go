package mqtt

// Detection is what Detect concludes from a connection's first bytes.
type Detection int

// The answers of Detect.
const (
	NotMQTT  Detection = iota // the bytes cannot start an MQTT connection
	IsMQTT                    // a CONNECT of MQTT 3.1, 3.1.1 or 5.0 (or a later level)
	NeedMore                  // consistent with MQTT so far; read more
)

// detectNames are the protocol names as MQTT strings (length first).
var detectNames = [...]string{"\x00\x04" + ProtocolName, "\x00\x06" + ProtocolNameV31}

// Detect tells from the first bytes of a connection whether it speaks
// MQTT: a CONNECT fixed header (0x10), a valid remaining length large
// enough for a CONNECT, and the protocol name "MQTT" or "MQIsdp" with its
// length. It needs at most 14 bytes to decide. It does not look at the
// protocol level, so that a client of an unsupported level reaches the
// adapter and gets its CONNACK refusal.
func Detect(prefix []byte) Detection {
	if len(prefix) == 0 {
		return NeedMore
	}
	if prefix[0] != byte(TypeConnect)<<4 {
		return NotMQTT
	}
	remaining, n := decodeVarint(prefix[1:])
	switch {
	case n < 0:
		return NotMQTT
	case n == 0:
		return NeedMore
	}
	rest := prefix[1+n:]
	for _, want := range detectNames {
		// The name as an MQTT string, then level, flags and keep alive.
		if remaining < len(want)+4 {
			continue
		}
		k := min(len(rest), len(want))
		if string(rest[:k]) != string(want[:k]) {
			continue
		}
		if k == len(want) {
			return IsMQTT
		}
		return NeedMore
	}
	return NotMQTT
}
