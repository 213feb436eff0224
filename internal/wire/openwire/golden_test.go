package openwire

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The golden files are frames captured from ActiveMQ's own client and
// broker (testdata/capture). Each must decode and encode back to the very
// same bytes.

// goldenText is the string Capture.java sends to exercise modified UTF-8:
// a NUL, a combining accent, BMP characters and a supplementary one.
const goldenText = "nul\x00 e\u0301 \u00e9 \u20ac \U0001F600 end"

func goldenFiles(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.bin"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files (%v); run testdata/capture/capture.sh", err)
	}
	out := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".bin")] = b
	}
	return out
}

func goldenCommand(t *testing.T, name string) DataStructure {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ds
}

func TestGoldenFramesReencodeIdentically(t *testing.T) {
	for name, frame := range goldenFiles(t) {
		t.Run(name, func(t *testing.T) {
			ds, err := Unmarshal(frame)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := ds.DataType(); byte(got) != frame[0] {
				t.Fatalf("decoded a %v from a frame of type %d", got, frame[0])
			}
			again, err := Marshal(ds)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(again, frame) {
				t.Fatalf("re-encoded frame differs\n got %x\nwant %x", again, frame)
			}
			// And through the stream reader and writer.
			var buf bytes.Buffer
			w := NewWriter(&buf)
			if err := w.WriteCommand(ds); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			r := NewReader(&buf, ReaderOptions{BufferSize: 64})
			raw, err := r.ReadFrame()
			if err != nil || !bytes.Equal(raw, frame) {
				t.Fatalf("through Writer and Reader: %v, equal %t", err, bytes.Equal(raw, frame))
			}
		})
	}
}

// TestGoldenCoversTheJMSClient fails if a regeneration of the golden files
// loses a command the JMS client sends or the broker answers with.
func TestGoldenCoversTheJMSClient(t *testing.T) {
	have := map[string]bool{}
	for name := range goldenFiles(t) {
		dir, rest, _ := strings.Cut(name, "-")
		typ, _, _ := strings.Cut(rest, "-")
		have[dir+"-"+typ] = true
	}
	want := []string{
		"c2b-WireFormatInfo", "c2b-ConnectionInfo", "c2b-SessionInfo", "c2b-ConsumerInfo", "c2b-ProducerInfo",
		"c2b-TransactionInfo", "c2b-DestinationInfo", "c2b-RemoveSubscriptionInfo", "c2b-KeepAliveInfo",
		"c2b-ShutdownInfo", "c2b-RemoveInfo", "c2b-MessagePull", "c2b-MessageAck", "c2b-Message",
		"c2b-BytesMessage", "c2b-MapMessage", "c2b-ObjectMessage", "c2b-StreamMessage", "c2b-TextMessage",
		"b2c-WireFormatInfo", "b2c-BrokerInfo", "b2c-Response", "b2c-ExceptionResponse", "b2c-IntegerResponse",
		"b2c-MessageDispatch", "b2c-ConnectionControl", "b2c-ConnectionError", "b2c-ProducerAck", "b2c-KeepAliveInfo",
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("no golden file for %s", w)
		}
	}
}

func TestGoldenClientWireFormatInfo(t *testing.T) {
	wfi := goldenCommand(t, "c2b-WireFormatInfo").(*WireFormatInfo)
	f, err := wfi.WireFormat()
	if err != nil {
		t.Fatal(err)
	}
	want := WireFormat{
		Version: 12, StackTraceEnabled: true, CacheEnabled: true, CacheSize: 1024, TightEncodingEnabled: true,
		TCPNoDelayEnabled: true, MaxFrameSize: math.MaxInt64, MaxFrameSizeEnabled: true,
		MaxInactivityDuration: 30000, MaxInactivityDurationInitialDelay: 10000,
		Host: "127.0.0.1", ProviderName: "ActiveMQ", ProviderVersion: "5.17.2", PlatformDetails: "Java",
	}
	if f != want {
		t.Fatalf("client wire format\n got %+v\nwant %+v", f, want)
	}
	// The Java types the client casts each option to.
	m, _ := DecodeMap(wfi.MarshalledProperties)
	for k, typ := range map[string]ValueType{
		OptCacheSize: ValueInt, OptMaxInactivityDuration: ValueLong, OptMaxInactivityDurationInitalDelay: ValueLong,
		OptMaxFrameSize: ValueLong, OptTightEncodingEnabled: ValueBool, OptHost: ValueString,
	} {
		if v, _ := m.Get(k); v.Type() != typ {
			t.Errorf("%s is a %v, want %v", k, v.Type(), typ)
		}
	}
	// Answering it as tandem does turns the expensive options off.
	_, agreed, err := AnswerClient(wfi, DefaultBrokerWireFormat(DefaultMaxFrameSize))
	if err != nil {
		t.Fatal(err)
	}
	if agreed.TightEncodingEnabled || agreed.CacheEnabled || agreed.StackTraceEnabled || agreed.Version != 12 || agreed.MaxFrameSize != DefaultMaxFrameSize {
		t.Fatalf("agreed %+v", agreed)
	}
}

func TestGoldenMessageHeadersAndProperties(t *testing.T) {
	m := goldenCommand(t, "c2b-Message-message-headers").(*Message)
	if m.Kind != TypeMessage || m.CorrelationID != "corr-1" || m.Type != "golden-type" || m.Priority != 7 ||
		!m.Persistent || m.Expiration <= m.Timestamp || m.GroupID != "group-a" || m.GroupSequence != 3 ||
		m.ReplyTo == nil || *m.ReplyTo != *NewQueue("golden.reply") || !m.ResponseRequired {
		t.Fatalf("headers: %+v", m)
	}
	if m.MessageID == nil || m.MessageID.ProducerID == nil || *m.MessageID.ProducerID != *m.ProducerID || m.MessageID.ProducerSequenceID != 1 {
		t.Fatalf("message ID %+v, producer %+v", m.MessageID, m.ProducerID)
	}
	props, err := m.Properties()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"pBool": true, "pByte": int8(-7), "pShort": int16(-300), "pInt": int32(123456789),
		"pLong": int64(1234567890123), "pFloat": float32(1.5), "pDouble": -2.25, "pString": "value",
		"pUnicode": goldenText, "pEmpty": "", "golden": "message-headers",
	}
	for k, w := range want {
		v, ok := props.Get(k)
		if !ok || v.Any() != w {
			t.Errorf("property %s = %#v (present %t), want %#v", k, v.Any(), ok, w)
		}
	}
	// JMSXGroupID/Seq travel as headers, not properties.
	if _, ok := props.Get("JMSXGroupID"); ok {
		t.Error("JMSXGroupID is a property")
	}
}

func TestGoldenTextBodies(t *testing.T) {
	for name, want := range map[string]string{
		"c2b-TextMessage-text-plain":      "hello",
		"c2b-TextMessage-text-unicode":    goldenText,
		"c2b-TextMessage-text-empty":      "",
		"c2b-TextMessage-text-null":       "",
		"c2b-TextMessage-text-compressed": strings.Repeat("abcdefghijklmnopqrstuvwxyz", 116)[:3000] + goldenText,
	} {
		m := goldenCommand(t, name).(*Message)
		got, err := m.Text()
		if err != nil || got != want {
			t.Errorf("%s: text %q, %v; want %q", name, trim(got), err, trim(want))
		}
	}
	if m := goldenCommand(t, "c2b-TextMessage-text-null").(*Message); m.Content != nil {
		t.Errorf("a null text has content %x", m.Content)
	}
	if m := goldenCommand(t, "c2b-TextMessage-text-compressed").(*Message); !m.Compressed {
		t.Error("the compressed text is not marked compressed")
	}
	// The unicode text as Java encodes it: NUL in two bytes, the emoji as a
	// surrogate pair of three bytes each.
	m := goldenCommand(t, "c2b-TextMessage-text-unicode").(*Message)
	if !bytes.Contains(m.Content, []byte{'l', 0xC0, 0x80, ' '}) || !bytes.Contains(m.Content, []byte{0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}) {
		t.Errorf("content %x is not modified UTF-8", m.Content)
	}
	var re Message
	re.Kind = TypeTextMessage
	re.SetText(goldenText)
	if !bytes.Equal(re.Content, m.Content) {
		t.Errorf("SetText gives %x, Java %x", re.Content, m.Content)
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-20:]
	}
	return s
}

func alphabet(n int) string { return strings.Repeat("abcdefghijklmnopqrstuvwxyz", n/26+1)[:n] }

func TestGoldenMapBody(t *testing.T) {
	m := goldenCommand(t, "c2b-MapMessage-map-all-types").(*Message)
	body, err := m.MapBody()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ ValueType
		val any
	}{
		"boolean": {ValueBool, true}, "byte": {ValueByte, int8(0x7f)}, "short": {ValueShort, int16(-2)},
		"char": {ValueChar, uint16(0x20ac)}, "int": {ValueInt, int32(math.MinInt32)}, "long": {ValueLong, int64(math.MaxInt64)},
		"float": {ValueFloat, float32(3.25)}, "double": {ValueDouble, math.Pi}, "string": {ValueString, "text"},
		"unicode": {ValueString, goldenText}, "bigString": {ValueBigString, alphabet(9000)}, "null": {ValueNull, nil},
	}
	for k, w := range want {
		v, ok := body.Get(k)
		if !ok || v.Type() != w.typ || v.Any() != w.val {
			t.Errorf("%s: %v %#v (present %t), want %v %#v", k, v.Type(), trim(v.String()), ok, w.typ, w.val)
		}
	}
	if v, _ := body.Get("bytes"); v.Type() != ValueBytes || !bytes.Equal(v.Any().([]byte), []byte{0, 1, 2, 0xff}) {
		t.Errorf("bytes: %v", v)
	}
	l, _ := body.Get("list")
	if l.Type() != ValueList || !slices.Equal(anys(l.Any().([]Value)), []any{int32(1), "two", int64(3)}) {
		t.Errorf("list: %v", l)
	}
	nested, _ := body.Get("map")
	if inner, _ := nested.Any().(*Map).Get("inner"); inner.Any() != int32(42) {
		t.Errorf("nested map: %v", nested)
	}
	// Re-encoding the decoded body gives Java's bytes back.
	again, err := AppendMap(nil, body)
	if err != nil || !bytes.Equal(again, m.Content) {
		t.Errorf("map body re-encoded differs: %v", err)
	}
}

func anys(vs []Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v.Any()
	}
	return out
}

func TestGoldenStreamBody(t *testing.T) {
	m := goldenCommand(t, "c2b-StreamMessage-stream").(*Message)
	vs, err := m.StreamBody()
	if err != nil {
		t.Fatal(err)
	}
	got := anys(vs)
	want := []any{false, int8(1), int16(2), uint16('c'), int32(4), int64(5), float32(6.5), 7.5, "eight", alphabet(9000), []byte{9, 9}, nil}
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if b, ok := want[i].([]byte); ok {
			if !bytes.Equal(got[i].([]byte), b) {
				t.Errorf("value %d: %v", i, got[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("value %d: %#v, want %#v", i, got[i], want[i])
		}
	}
	if vs[9].Type() != ValueBigString {
		t.Errorf("a 9000-character string is a %v", vs[9].Type())
	}
	again, err := AppendStream(nil, vs)
	if err != nil || !bytes.Equal(again, m.Content) {
		t.Errorf("stream body re-encoded differs: %v", err)
	}
}

func TestGoldenCompressedBodies(t *testing.T) {
	b := goldenCommand(t, "c2b-BytesMessage-bytes-compressed").(*Message)
	raw, err := b.UncompressedContent()
	if err != nil || string(raw) != alphabet(3000) || !b.Compressed {
		t.Errorf("bytes: %d bytes, %v", len(raw), err)
	}
	mm := goldenCommand(t, "c2b-MapMessage-map-compressed").(*Message)
	body, err := mm.MapBody()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := body.Get("k"); v.String() != alphabet(2000) {
		t.Error("compressed map: k")
	}
	if v, _ := body.Get("n"); v.Any() != int32(7) {
		t.Error("compressed map: n")
	}
	sm := goldenCommand(t, "c2b-StreamMessage-stream-compressed").(*Message)
	vs, err := sm.StreamBody()
	if err != nil || len(vs) != 2 || vs[0].String() != alphabet(2000) || vs[1].Any() != int64(8) {
		t.Errorf("compressed stream: %v", err)
	}
	om := goldenCommand(t, "c2b-ObjectMessage-object-compressed").(*Message)
	ser, err := om.UncompressedContent()
	if err != nil || !bytes.HasPrefix(ser, []byte{0xAC, 0xED}) {
		t.Errorf("compressed object: %x, %v", ser[:min(len(ser), 4)], err)
	}
	// Compress reproduces the Java framing: what it writes inflates back.
	for _, kind := range []DataType{TypeBytesMessage, TypeTextMessage} {
		m := &Message{Kind: kind, Content: []byte(alphabet(5000))}
		if err := m.Compress(); err != nil {
			t.Fatal(err)
		}
		back, err := m.UncompressedContent()
		if err != nil || string(back) != alphabet(5000) || len(m.Content) >= 5000 {
			t.Errorf("%v: compress round trip: %v", kind, err)
		}
	}
}

func TestGoldenBytesAndObjectBodies(t *testing.T) {
	b := goldenCommand(t, "c2b-BytesMessage-bytes").(*Message)
	if len(b.Content) != 256 || b.Content[255] != 255 || b.Compressed {
		t.Errorf("bytes body %x", b.Content)
	}
	o := goldenCommand(t, "c2b-ObjectMessage-object").(*Message)
	if !bytes.HasPrefix(o.Content, []byte{0xAC, 0xED, 0x00, 0x05}) {
		t.Errorf("object body is not Java serialisation: %x", o.Content[:4])
	}
}

func TestGoldenConsumers(t *testing.T) {
	dur := goldenCommand(t, "c2b-ConsumerInfo-durable-topic").(*ConsumerInfo)
	if dur.SubscriptionName != "golden-sub" || dur.ClientID != "golden-client" || *dur.Destination != *NewTopic("golden.topic") {
		t.Errorf("durable: %+v", dur)
	}
	sel := goldenCommand(t, "c2b-ConsumerInfo-selector").(*ConsumerInfo)
	if sel.Selector != "color = 'red' AND weight > 2" || sel.PrefetchSize != 1000 {
		t.Errorf("selector: %+v", sel)
	}
	if br := goldenCommand(t, "c2b-ConsumerInfo-browser").(*ConsumerInfo); !br.Browser || br.PrefetchSize != 500 {
		t.Errorf("browser: %+v", br)
	}
	if p0 := goldenCommand(t, "c2b-ConsumerInfo-prefetch0").(*ConsumerInfo); p0.PrefetchSize != 0 {
		t.Errorf("prefetch 0: %+v", p0)
	}
	adv := goldenCommand(t, "c2b-ConsumerInfo-nolocal-advisory-topic").(*ConsumerInfo)
	if adv.ConsumerID.SessionID != -1 || !slices.Equal(names(adv.Destination.Members()), []string{"topic://ActiveMQ.Advisory.TempQueue", "topic://ActiveMQ.Advisory.TempTopic"}) {
		t.Errorf("advisory consumer: %+v", adv)
	}
	pull := goldenCommand(t, "c2b-MessagePull-timed").(*MessagePull)
	if pull.Timeout != 300 || pull.ConsumerID == nil {
		t.Errorf("pull: %+v", pull)
	}
	if pull := goldenCommand(t, "c2b-MessagePull-nowait").(*MessagePull); pull.Timeout != -1 {
		t.Errorf("pull no wait: %+v", pull)
	}
	unsub := goldenCommand(t, "c2b-RemoveSubscriptionInfo").(*RemoveSubscriptionInfo)
	if unsub.SubscriptionName != "golden-sub" || unsub.ClientID != "golden-client" {
		t.Errorf("unsubscribe: %+v", unsub)
	}
}

func names(ds []*Destination) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

func TestGoldenDestinationsAndTransactions(t *testing.T) {
	comp := goldenCommand(t, "c2b-TextMessage-composite").(*Message)
	if !comp.Destination.IsComposite() || !slices.Equal(names(comp.Destination.Members()), []string{"queue://golden.c1", "queue://golden.c2"}) {
		t.Errorf("composite: %v", comp.Destination)
	}
	if p := goldenCommand(t, "c2b-ProducerInfo-anonymous").(*ProducerInfo); p.Destination != nil {
		t.Errorf("anonymous producer has %v", p.Destination)
	}
	if p := goldenCommand(t, "c2b-ProducerInfo-window").(*ProducerInfo); p.WindowSize != 1024 {
		t.Errorf("window: %+v", p)
	}
	tmp := goldenCommand(t, "c2b-DestinationInfo-add-TempQueue").(*DestinationInfo)
	if !tmp.Destination.IsTemporary() || !strings.HasPrefix(tmp.Destination.Name, tmp.ConnectionID.Value) {
		t.Errorf("temp queue: %+v", tmp)
	}
	xa := goldenCommand(t, "c2b-TransactionInfo-begin-XATransactionId").(*TransactionInfo)
	x, ok := xa.TransactionID.(*XATransactionID)
	if !ok || x.FormatID != 0x1234 || !bytes.Equal(x.GlobalTransactionID, []byte{1, 2, 3, 4}) || !bytes.Equal(x.BranchQualifier, []byte{5, 6}) {
		t.Errorf("XA begin: %+v", xa.TransactionID)
	}
	local := goldenCommand(t, "c2b-TransactionInfo-commit1-LocalTransactionId").(*TransactionInfo)
	if l, ok := local.TransactionID.(*LocalTransactionID); !ok || l.ConnectionID == nil || local.Type != TransactionCommitOnePhase {
		t.Errorf("local commit: %+v", local)
	}
	tx := goldenCommand(t, "c2b-TextMessage-text-tx").(*Message)
	if _, ok := tx.TransactionID.(*LocalTransactionID); !ok {
		t.Errorf("a transacted send has transaction %v", tx.TransactionID)
	}
	if r := goldenCommand(t, "b2c-IntegerResponse").(*IntegerResponse); r.Result != 0 {
		t.Errorf("XA prepare vote %d", r.Result)
	}
}

func TestGoldenBrokerAnswers(t *testing.T) {
	ex := goldenCommand(t, "b2c-ExceptionResponse-InvalidClientIDException").(*ExceptionResponse)
	if ex.Exception == nil || ex.Exception.Class != "javax.jms.InvalidClientIDException" || !strings.Contains(ex.Exception.Message, "golden-dup") {
		t.Errorf("exception response: %+v", ex.Exception)
	}
	if d := goldenCommand(t, "b2c-MessageDispatch-null").(*MessageDispatch); d.Message != nil || d.ConsumerID == nil {
		t.Errorf("null dispatch: %+v", d)
	}
	adv := goldenCommand(t, "b2c-MessageDispatch-Message-carries-DestinationInfo-advisory").(*MessageDispatch)
	if di, ok := adv.Message.DataStructure.(*DestinationInfo); !ok || !di.Destination.IsTemporary() {
		t.Errorf("advisory: %+v", adv.Message.DataStructure)
	}
	poison := goldenCommand(t, "c2b-MessageAck-poison").(*MessageAck)
	if poison.AckType != AckPoison || poison.PoisonCause == nil || poison.PoisonCause.Class != "java.lang.Throwable" {
		t.Errorf("poison ack: %+v", poison)
	}
	// ConnectionControl arrives with empty, not null, strings; the codec
	// keeps the difference.
	cc := goldenCommand(t, "b2c-ConnectionControl").(*ConnectionControl)
	if cc.empty == 0 {
		t.Error("empty strings were not recorded")
	}
	ce := goldenCommand(t, "b2c-ConnectionError-IllegalStateException").(*ConnectionError)
	if ce.Exception == nil || ce.Exception.Class != "java.lang.IllegalStateException" || !strings.Contains(ce.Exception.Message, "not been registered") {
		t.Errorf("connection error: %+v", ce.Exception)
	}
	if pa := goldenCommand(t, "b2c-ProducerAck").(*ProducerAck); pa.Size <= 0 || pa.ProducerID == nil {
		t.Errorf("producer ack: %+v", pa)
	}
}
