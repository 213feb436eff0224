package openwire

import (
	"fmt"
	"math"
)

// Magic opens every WireFormatInfo.
var Magic = [8]byte{'A', 'c', 't', 'i', 'v', 'e', 'M', 'Q'}

// WireFormatInfo is the first frame each side sends: the magic, the highest
// protocol version it speaks, and its encoding options as a primitive map.
// It is not a Command and has no command ID. It is always loose-encoded,
// because nothing has been negotiated when it is sent.
type WireFormatInfo struct {
	Magic                [8]byte
	Version              int32
	MarshalledProperties []byte
}

func (*WireFormatInfo) DataType() DataType { return TypeWireFormatInfo }
func (x *WireFormatInfo) isNil() bool      { return x == nil }

func (x *WireFormatInfo) marshal(e *encoder) {
	e.buf = append(e.buf, x.Magic[:]...)
	e.i32(x.Version)
	e.bytes(x.MarshalledProperties)
}

func (x *WireFormatInfo) unmarshal(d *decoder) {
	if b := d.take(8, "the magic"); b != nil {
		copy(x.Magic[:], b)
	}
	x.Version = d.i32()
	x.MarshalledProperties = d.bytes()
}

// Names of the WireFormatInfo options, spelt as Java spells them
// ("Inital" included).
const (
	OptStackTraceEnabled                = "StackTraceEnabled"
	OptCacheEnabled                     = "CacheEnabled"
	OptCacheSize                        = "CacheSize"
	OptTightEncodingEnabled             = "TightEncodingEnabled"
	OptSizePrefixDisabled               = "SizePrefixDisabled"
	OptTCPNoDelayEnabled                = "TcpNoDelayEnabled"
	OptMaxFrameSize                     = "MaxFrameSize"
	OptMaxFrameSizeEnabled              = "MaxFrameSizeEnabled"
	OptMaxInactivityDuration            = "MaxInactivityDuration"
	OptMaxInactivityDurationInitalDelay = "MaxInactivityDurationInitalDelay"
	OptHost                             = "Host"
	OptProviderName                     = "ProviderName"
	OptProviderVersion                  = "ProviderVersion"
	OptPlatformDetails                  = "PlatformDetails"
)

// WireFormat holds the options of a WireFormatInfo, proposed by one side or
// agreed by both. Durations are in milliseconds, as on the wire.
type WireFormat struct {
	Version              int32
	StackTraceEnabled    bool
	CacheEnabled         bool
	CacheSize            int32
	TightEncodingEnabled bool
	SizePrefixDisabled   bool
	TCPNoDelayEnabled    bool
	// MaxFrameSize is the largest frame the side accepts; 0 means no limit.
	MaxFrameSize        int64
	MaxFrameSizeEnabled bool
	// MaxInactivityDuration is how long a side waits without reading
	// anything before it declares the connection dead; the peer sends
	// KeepAliveInfo at a third of it. 0 turns the monitor off.
	MaxInactivityDuration int64
	// MaxInactivityDurationInitialDelay delays the first inactivity check.
	MaxInactivityDurationInitialDelay int64
	Host                              string
	ProviderName                      string
	ProviderVersion                   string
	PlatformDetails                   string
}

// DefaultBrokerWireFormat returns what tandem proposes as a broker:
// OpenWire 12, loose encoding, no marshal cache and no stack traces, so that
// the client speaks the only encoding this codec implements; Java's default
// inactivity timing (30 s, first check after 10 s); frames up to
// maxFrameSize bytes (0 for no limit).
func DefaultBrokerWireFormat(maxFrameSize int64) WireFormat {
	return WireFormat{
		Version:                           MaxVersion,
		TCPNoDelayEnabled:                 true,
		MaxFrameSize:                      maxFrameSize,
		MaxFrameSizeEnabled:               maxFrameSize > 0,
		MaxInactivityDuration:             30000,
		MaxInactivityDurationInitialDelay: 10000,
		ProviderName:                      "tandem",
	}
}

// DefaultClientWireFormat returns what a tandem client proposes: the same
// encoding choices as DefaultBrokerWireFormat.
func DefaultClientWireFormat() WireFormat {
	f := DefaultBrokerWireFormat(0)
	f.MaxFrameSize = math.MaxInt64
	f.MaxFrameSizeEnabled = true
	return f
}

// NewWireFormatInfo encodes f as a WireFormatInfo, with each option in the
// Java type the client casts it to (Boolean, Integer for the cache size,
// Long for the durations and the frame size, String).
func NewWireFormatInfo(f WireFormat) (*WireFormatInfo, error) {
	m := NewMap()
	m.Set(OptTightEncodingEnabled, Bool(f.TightEncodingEnabled))
	m.Set(OptCacheEnabled, Bool(f.CacheEnabled))
	m.Set(OptCacheSize, Int(f.CacheSize))
	m.Set(OptStackTraceEnabled, Bool(f.StackTraceEnabled))
	m.Set(OptSizePrefixDisabled, Bool(f.SizePrefixDisabled))
	m.Set(OptTCPNoDelayEnabled, Bool(f.TCPNoDelayEnabled))
	m.Set(OptMaxFrameSize, Long(f.MaxFrameSize))
	m.Set(OptMaxFrameSizeEnabled, Bool(f.MaxFrameSizeEnabled))
	m.Set(OptMaxInactivityDuration, Long(f.MaxInactivityDuration))
	m.Set(OptMaxInactivityDurationInitalDelay, Long(f.MaxInactivityDurationInitialDelay))
	for _, o := range []struct{ k, v string }{
		{OptHost, f.Host}, {OptProviderName, f.ProviderName},
		{OptProviderVersion, f.ProviderVersion}, {OptPlatformDetails, f.PlatformDetails},
	} {
		if o.v != "" {
			m.Set(o.k, String(o.v))
		}
	}
	props, err := AppendMap(nil, m)
	if err != nil {
		return nil, fmt.Errorf("wire format options: %w", err)
	}
	return &WireFormatInfo{Magic: Magic, Version: f.Version, MarshalledProperties: props}, nil
}

// WireFormat decodes the options of x. Like Java, it treats a missing
// option as false or zero; unlike Java, which fails with a
// ClassCastException, it accepts any integer type for a numeric option.
func (x *WireFormatInfo) WireFormat() (WireFormat, error) {
	if x.Magic != Magic {
		return WireFormat{}, fmt.Errorf("%w: got %q", ErrBadMagic, x.Magic[:])
	}
	f := WireFormat{Version: x.Version}
	if x.MarshalledProperties == nil {
		return f, nil
	}
	m, err := DecodeMap(x.MarshalledProperties)
	if err != nil {
		return WireFormat{}, fmt.Errorf("wire format options: %w", err)
	}
	flag := func(k string) bool {
		v, _ := m.Get(k)
		b, ok := v.Any().(bool)
		return ok && b
	}
	num := func(k string) int64 {
		v, _ := m.Get(k)
		switch n := v.Any().(type) {
		case int8:
			return int64(n)
		case int16:
			return int64(n)
		case int32:
			return int64(n)
		case int64:
			return n
		}
		return 0
	}
	str := func(k string) string {
		v, _ := m.Get(k)
		if t := v.Type(); t == ValueString || t == ValueBigString {
			return v.String()
		}
		return ""
	}
	f.StackTraceEnabled = flag(OptStackTraceEnabled)
	f.CacheEnabled = flag(OptCacheEnabled)
	f.CacheSize = int32(num(OptCacheSize))
	f.TightEncodingEnabled = flag(OptTightEncodingEnabled)
	f.SizePrefixDisabled = flag(OptSizePrefixDisabled)
	f.TCPNoDelayEnabled = flag(OptTCPNoDelayEnabled)
	f.MaxFrameSize = num(OptMaxFrameSize)
	f.MaxFrameSizeEnabled = flag(OptMaxFrameSizeEnabled)
	f.MaxInactivityDuration = num(OptMaxInactivityDuration)
	f.MaxInactivityDurationInitialDelay = num(OptMaxInactivityDurationInitalDelay)
	f.Host = str(OptHost)
	f.ProviderName = str(OptProviderName)
	f.ProviderVersion = str(OptProviderVersion)
	f.PlatformDetails = str(OptPlatformDetails)
	return f, nil
}

// Negotiate computes the wire format both sides use, the way the Java
// client does: the lower version and frame size, and each encoding option
// only if both sides want it. It fails with a *VersionError when the agreed
// version is older than MinVersion, and with ErrUnsupportedEncoding when the
// result would need tight encoding, marshal caching or frames without a
// size prefix — impossible when local comes from DefaultBrokerWireFormat or
// DefaultClientWireFormat, which turn them off. The agreed format is
// returned even with an error, so the caller can report it.
func Negotiate(local, remote WireFormat) (WireFormat, error) {
	f := local
	f.Version = minPositive(local.Version, remote.Version)
	f.MaxFrameSize = minPositive(local.MaxFrameSize, remote.MaxFrameSize)
	f.StackTraceEnabled = local.StackTraceEnabled && remote.StackTraceEnabled
	f.CacheEnabled = local.CacheEnabled && remote.CacheEnabled
	f.CacheSize = min(local.CacheSize, remote.CacheSize)
	f.TightEncodingEnabled = local.TightEncodingEnabled && remote.TightEncodingEnabled
	f.SizePrefixDisabled = local.SizePrefixDisabled && remote.SizePrefixDisabled
	f.TCPNoDelayEnabled = local.TCPNoDelayEnabled && remote.TCPNoDelayEnabled
	// The inactivity monitor takes the plain minimum: a side that sends 0
	// turns monitoring off for both.
	f.MaxInactivityDuration = min(local.MaxInactivityDuration, remote.MaxInactivityDuration)
	f.MaxInactivityDurationInitialDelay = min(local.MaxInactivityDurationInitialDelay, remote.MaxInactivityDurationInitialDelay)
	if f.Version < MinVersion {
		return f, &VersionError{Version: remote.Version}
	}
	if f.TightEncodingEnabled || f.CacheEnabled || f.SizePrefixDisabled {
		return f, fmt.Errorf("%w: the agreed format asks for tight encoding %t, caching %t, no size prefix %t; only loose, uncached, size-prefixed frames are implemented",
			ErrUnsupportedEncoding, f.TightEncodingEnabled, f.CacheEnabled, f.SizePrefixDisabled)
	}
	return f, nil
}

// minPositive is Java's OpenWireFormat.min: the smaller of two values,
// where zero or less means "no preference".
func minPositive[T int32 | int64](a, b T) T {
	if (a < b && a > 0) || b <= 0 {
		return a
	}
	return b
}

// AnswerClient is the broker's side of negotiation. Given the client's
// WireFormatInfo and the broker's own proposal, it returns the
// WireFormatInfo to send back (the broker's options, at the lower of the
// two versions) and the format both sides will use.
//
// A bad magic or an unreadable option map is an error and nothing should be
// sent. A version older than MinVersion yields a *VersionError together with
// the answer and the agreed format: the broker can send the answer, read the
// client's first command with ReadFrame and ParseHeader (whose header layout
// is the same in every version) and refuse it with an ExceptionResponse, so
// the client application sees why.
func AnswerClient(client *WireFormatInfo, broker WireFormat) (*WireFormatInfo, WireFormat, error) {
	cf, err := client.WireFormat()
	if err != nil {
		return nil, WireFormat{}, err
	}
	agreed, negErr := Negotiate(broker, cf)
	answerFormat := broker
	answerFormat.Version = minPositive(broker.Version, cf.Version)
	answer, err := NewWireFormatInfo(answerFormat)
	if err != nil {
		return nil, WireFormat{}, err
	}
	return answer, agreed, negErr
}
