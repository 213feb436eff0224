package openwire

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// TestJavaReadsOurFrames checks the encoder against ActiveMQ's own
// marshaller: frames built in Go, of every type a broker sends and a client
// sends, are decoded by activemq-client 5.17 (testdata/java/Verify.java),
// encoded back by it to the same bytes, and seen by Java with the types and
// values the Go side meant. It needs Java and Debian's activemq package; it
// skips without them unless TANDEM_REQUIRE_ACTIVEMQ is set (as CI should
// once it installs them).
func TestJavaReadsOurFrames(t *testing.T) {
	classpath := requireActiveMQClient(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "javac", "-Xlint:-options", "-d", dir, "-cp", classpath, filepath.Join("testdata", "java", "Verify.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	samples := javaSamples(t)
	var files []string
	names := make([]string, 0, len(samples))
	for name := range samples {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		frame, err := AppendFrame(nil, samples[name].ds)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, frame, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	out, err := exec.CommandContext(ctx, "java", append([]string{"-cp", classpath + ":" + dir, "Verify"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("java Verify: %v\n%s", err, out)
	}
	got := parseVerify(t, out)
	for _, name := range names {
		s := samples[name]
		lines, ok := got[name]
		if !ok {
			t.Errorf("%s: Java printed nothing", name)
			continue
		}
		header := lines[0]
		if !strings.HasSuffix(header, " same") {
			t.Errorf("%s: %s (Java re-encodes it differently)", name, header)
		}
		for _, want := range s.want {
			if !containsLine(lines[1:], want) {
				t.Errorf("%s: Java does not see %q; it printed:\n  %s", name, want, strings.Join(lines, "\n  "))
			}
		}
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// requireActiveMQClient returns the class path of Debian's activemq-client
// and its dependencies, or skips.
func requireActiveMQClient(t *testing.T) string {
	t.Helper()
	jars := []string{
		"/usr/share/activemq/lib/activemq-client.jar", "/usr/share/java/geronimo-jms_1.1_spec.jar",
		"/usr/share/java/geronimo-j2ee-management-1.1-spec.jar", "/usr/share/java/hawtbuf.jar",
		"/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-nop.jar",
	}
	var missing []string
	for _, tool := range []string{"java", "javac"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, j := range jars {
		if _, err := os.Stat(j); err != nil {
			missing = append(missing, j)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("TANDEM_REQUIRE_ACTIVEMQ") != "" {
			t.Fatalf("TANDEM_REQUIRE_ACTIVEMQ is set but these are missing: %v (apt-get install activemq default-jdk-headless)", missing)
		}
		t.Skipf("needs %v (Debian packages activemq and a JDK)", missing)
	}
	return strings.Join(jars, ":")
}

// parseVerify groups Verify's output by frame file.
func parseVerify(t *testing.T, out []byte) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "FRAME "); ok {
			cur, _, _ = strings.Cut(rest, " ")
			got[cur] = append(got[cur], line)
			continue
		}
		if cur == "" {
			t.Logf("java: %s", line)
			continue
		}
		got[cur] = append(got[cur], strings.TrimPrefix(line, "  "))
	}
	return got
}

// unicodeSample holds the characters whose encoding differs between
// standard and modified UTF-8: NUL and a supplementary character.
const unicodeSample = "a\x00b\U0001F600c"

type javaSample struct {
	ds   DataStructure
	want []string // lines Verify must print
}

// javaString escapes s as Verify does: every UTF-16 code unit outside
// printable ASCII as \uXXXX.
func javaString(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		if u >= 0x20 && u < 0x7f && u != '\\' {
			b.WriteByte(byte(u))
		} else {
			fmt.Fprintf(&b, "\\u%04x", u)
		}
	}
	return b.String()
}

// javaValue formats v as Verify prints a Java object: its class and value.
func javaValue(v Value) string {
	switch v.Type() {
	case ValueNull:
		return "null"
	case ValueBool:
		return "Boolean " + v.String()
	case ValueByte:
		return "Byte " + v.String()
	case ValueChar:
		return fmt.Sprintf("Character %d", v.Any())
	case ValueShort:
		return "Short " + v.String()
	case ValueInt:
		return "Integer " + v.String()
	case ValueLong:
		return "Long " + v.String()
	case ValueFloat:
		return "Float " + v.String()
	case ValueDouble:
		return "Double " + v.String()
	case ValueString, ValueBigString:
		return "String " + javaString(v.String())
	case ValueBytes:
		return fmt.Sprintf("byte[] %x", v.Any())
	case ValueList:
		var parts []string
		for _, x := range v.Any().([]Value) {
			parts = append(parts, javaValue(x))
		}
		return "List [" + strings.Join(parts, ", ") + "]"
	case ValueMap:
		var parts []string
		for k, x := range v.Any().(*Map).All() {
			parts = append(parts, javaString(k)+"="+javaValue(x))
		}
		sort.Strings(parts)
		return "Map {" + strings.Join(parts, ", ") + "}"
	}
	return "unknown"
}

// propertyValue is javaValue for a message property or map entry, which
// ActiveMQ hands out as a UTF8Buffer until asked for a String.
func propertyValue(v Value) string {
	if v.Type() == ValueString || v.Type() == ValueBigString {
		return "UTF8Buffer " + javaString(v.String())
	}
	return javaValue(v)
}

func javaSamples(t *testing.T) map[string]javaSample {
	t.Helper()
	s := map[string]javaSample{}
	conn := &ConnectionID{Value: "ID:go-1"}
	cid := &ConsumerID{ConnectionID: conn.Value, SessionID: 1, Value: 1}
	pid := &ProducerID{ConnectionID: conn.Value, Value: 1, SessionID: 1}
	queue := NewQueue("orders")

	wf, err := NewWireFormatInfo(DefaultBrokerWireFormat(DefaultMaxFrameSize))
	if err != nil {
		t.Fatal(err)
	}
	s["WireFormatInfo"] = javaSample{wf, []string{fmt.Sprintf(
		"WF valid=true version=12 tight=false cache=false cacheSize=0 stackTrace=false sizePrefixDisabled=false tcpNoDelay=true maxFrameSize=%d maxFrameSizeEnabled=true maxInactivity=30000 initialDelay=10000", DefaultMaxFrameSize)}}
	cwf, _ := NewWireFormatInfo(DefaultClientWireFormat())
	s["WireFormatInfo-client"] = javaSample{cwf, []string{fmt.Sprintf(
		"WF valid=true version=12 tight=false cache=false cacheSize=0 stackTrace=false sizePrefixDisabled=false tcpNoDelay=true maxFrameSize=%d maxFrameSizeEnabled=true maxInactivity=30000 initialDelay=10000", int64(math.MaxInt64))}}

	s["BrokerInfo"] = javaSample{&BrokerInfo{BrokerID: &BrokerID{Value: "ID:tandem-1"}, BrokerURL: "tcp://127.0.0.1:61616", BrokerName: "tandem",
		PeerBrokerInfos: []*BrokerInfo{{BrokerID: &BrokerID{Value: "ID:tandem-2"}, BrokerURL: "tcp://127.0.0.1:61617"}}},
		[]string{"BROKER id=ID:tandem-1 url=tcp://127.0.0.1:61616 name=tandem peers=1"}}
	s["Response"] = javaSample{&Response{CorrelationID: 5}, []string{"COMMAND id=0 responseRequired=false"}}
	s["ExceptionResponse"] = javaSample{&ExceptionResponse{CorrelationID: 6, Exception: NewThrowable("javax.jms.JMSSecurityException", "User name [bob] or password is invalid.")},
		[]string{"EXCEPTION javax.jms.JMSSecurityException User name [bob] or password is invalid. correlation=6"}}
	s["ExceptionResponse-clientid"] = javaSample{&ExceptionResponse{CorrelationID: 1, Exception: NewThrowable("javax.jms.InvalidClientIDException", "Client C is already connected")},
		[]string{"EXCEPTION javax.jms.InvalidClientIDException Client C is already connected correlation=1"}}
	s["ConnectionError"] = javaSample{&ConnectionError{Exception: NewThrowable("java.io.IOException", "OpenWire version 9 is not supported"), ConnectionID: conn},
		[]string{"EXCEPTION java.io.IOException OpenWire version 9 is not supported"}}
	s["ConnectionControl"] = javaSample{&ConnectionControl{FaultTolerant: true, ConnectedBrokers: "tcp://127.0.0.1:61616,tcp://127.0.0.1:61617"},
		[]string{"CONTROL connectedBrokers=tcp://127.0.0.1:61616,tcp://127.0.0.1:61617"}}
	s["ConsumerControl"] = javaSample{&ConsumerControl{ConsumerID: cid, Destination: queue, Prefetch: 10, Start: true}, nil}
	s["ProducerAck"] = javaSample{&ProducerAck{ProducerID: pid, Size: 1024}, nil}
	s["DataResponse"] = javaSample{&DataResponse{CorrelationID: 3, Data: &DestinationInfo{ConnectionID: conn, Destination: NewTempQueue("ID:go-1:1:1")}}, nil}
	s["IntegerResponse"] = javaSample{&IntegerResponse{CorrelationID: 4, Result: 3}, nil}
	s["DataArrayResponse"] = javaSample{&DataArrayResponse{CorrelationID: 4, Data: []DataStructure{&XATransactionID{FormatID: 1, GlobalTransactionID: []byte{1}, BranchQualifier: []byte{2}}}}, nil}
	s["KeepAliveInfo"] = javaSample{&KeepAliveInfo{BaseCommand{ResponseRequired: true}}, []string{"COMMAND id=0 responseRequired=true"}}
	s["ShutdownInfo"] = javaSample{&ShutdownInfo{BaseCommand{CommandID: 9}}, nil}

	// What a Go client sends.
	s["ConnectionInfo"] = javaSample{&ConnectionInfo{BaseCommand: BaseCommand{CommandID: 1, ResponseRequired: true}, ConnectionID: conn, ClientID: "go-client", UserName: "bob", Password: "secret", Manageable: true}, []string{"COMMAND id=1 responseRequired=true"}}
	s["SessionInfo"] = javaSample{&SessionInfo{SessionID: cid.ParentID()}, nil}
	s["ConsumerInfo"] = javaSample{&ConsumerInfo{ConsumerID: cid, Destination: NewTopic("prices"), PrefetchSize: 1000, Selector: "a > 1", SubscriptionName: "sub", ClientID: "go-client", DispatchAsync: true}, nil}
	s["ProducerInfo"] = javaSample{&ProducerInfo{ProducerID: pid, Destination: queue, WindowSize: 0}, nil}
	ltx := &LocalTransactionID{Value: 1, ConnectionID: conn}
	s["TransactionInfo"] = javaSample{&TransactionInfo{ConnectionID: conn, TransactionID: ltx, Type: TransactionCommitOnePhase}, nil}
	s["TransactionInfo-xa"] = javaSample{&TransactionInfo{ConnectionID: conn, TransactionID: &XATransactionID{FormatID: 7, GlobalTransactionID: []byte{1, 2}, BranchQualifier: []byte{}}, Type: TransactionPrepare}, nil}
	s["DestinationInfo"] = javaSample{&DestinationInfo{ConnectionID: conn, Destination: NewTempTopic("ID:go-1:1:2"), OperationType: DestinationRemove}, nil}
	s["RemoveInfo"] = javaSample{&RemoveInfo{ObjectID: cid, LastDeliveredSequenceID: LastDeliveredUnknown}, nil}
	mid := &MessageID{ProducerID: pid, ProducerSequenceID: 3, BrokerSequenceID: 9}
	s["MessageAck"] = javaSample{&MessageAck{Destination: queue, ConsumerID: cid, TransactionID: ltx, AckType: AckPoison, FirstMessageID: mid, LastMessageID: mid, MessageCount: 1,
		PoisonCause: NewThrowable("java.lang.Throwable", "too many deliveries")}, nil}
	s["MessagePull"] = javaSample{&MessagePull{ConsumerID: cid, Destination: queue, Timeout: -1}, nil}
	s["RemoveSubscriptionInfo"] = javaSample{&RemoveSubscriptionInfo{ConnectionID: conn, SubscriptionName: "sub", ClientID: "go-client"}, nil}

	// Messages of every kind, sent as a broker dispatches them.
	msg := func(kind DataType, seq int64) *Message {
		return &Message{Kind: kind, ProducerID: pid, Destination: queue, MessageID: &MessageID{ProducerID: pid, ProducerSequenceID: seq},
			Persistent: true, Priority: 4, Timestamp: 1700000000000}
	}
	dispatch := func(m *Message) *MessageDispatch {
		return &MessageDispatch{ConsumerID: cid, Destination: queue, Message: m}
	}
	props := NewMap()
	props.Set("bool", Bool(true))
	props.Set("byte", Byte(-7))
	props.Set("short", Short(-300))
	props.Set("int", Int(123456789))
	props.Set("long", Long(1234567890123))
	props.Set("float", Float(1.5))
	props.Set("double", Double(-2.25))
	props.Set("string", String("héllo €"))
	props.Set("big", String(alphabet(9000)))
	props.Set("unicode", String(unicodeSample))
	m := msg(TypeMessage, 1)
	m.CorrelationID, m.Type, m.ReplyTo = "corr", "kind", NewTempQueue("ID:go-1:1:1")
	if err := m.SetProperties(props); err != nil {
		t.Fatal(err)
	}
	want := []string{"MESSAGE class=ActiveMQMessage id=ID:go-1:1:1:1 destination=queue://orders persistent=true priority=4 correlation=corr type=kind replyTo=temp-queue://ID:go-1:1:1 compressed=false"}
	for k, v := range props.All() {
		want = append(want, "PROP "+k+" "+propertyValue(v))
	}
	s["Dispatch-Message"] = javaSample{dispatch(m), want}

	text := "héllo € wörld " + unicodeSample
	tm := msg(TypeTextMessage, 2)
	tm.SetText(text)
	s["Dispatch-Text"] = javaSample{dispatch(tm), []string{"TEXT " + javaString(text)}}
	ctm := msg(TypeTextMessage, 3)
	ctm.SetText(alphabet(4000) + text)
	if err := ctm.Compress(); err != nil {
		t.Fatal(err)
	}
	s["Dispatch-Text-compressed"] = javaSample{dispatch(ctm), []string{"TEXT " + javaString(alphabet(4000)+text)}}
	s["Message-Text"] = javaSample{tm, []string{"TEXT " + javaString(text)}}

	body := NewMap()
	body.Set("bool", Bool(false))
	body.Set("byte", Byte(127))
	body.Set("char", Char(0x20ac))
	body.Set("short", Short(2))
	body.Set("int", Int(math.MinInt32))
	body.Set("long", Long(math.MaxInt64))
	body.Set("float", Float(3.25))
	body.Set("double", Double(math.Pi))
	body.Set("string", String("text"))
	body.Set("big", String(alphabet(9000)))
	body.Set("bytes", Bytes([]byte{0, 1, 0xff}))
	body.Set("null", Null())
	body.Set("unicode", String(unicodeSample))
	inner := NewMap()
	inner.Set("unicode", String(unicodeSample))
	inner.Set("n", Int(1))
	body.Set("list", List(String(unicodeSample), Long(2), MapValue(inner)))
	body.Set("map", MapValue(inner))
	mm := msg(TypeMapMessage, 4)
	if err := mm.SetMapBody(body); err != nil {
		t.Fatal(err)
	}
	want = nil
	for k, v := range body.All() {
		pv := propertyValue(v)
		if v.Type() == ValueString || v.Type() == ValueBigString {
			pv = javaValue(v) // MapMessage.getObject converts to String
		}
		want = append(want, "MAP "+k+" "+pv)
	}
	s["Dispatch-Map"] = javaSample{dispatch(mm), want}

	stream := []Value{Bool(true), Byte(1), Short(2), Char('c'), Int(4), Long(5), Float(6.5), Double(7.5), String("eight"), String(alphabet(9000)), Bytes([]byte{9}), Null(), String(unicodeSample)}
	sm := msg(TypeStreamMessage, 5)
	if err := sm.SetStreamBody(stream); err != nil {
		t.Fatal(err)
	}
	want = nil
	for _, v := range stream {
		want = append(want, "STREAM "+javaValue(v))
	}
	s["Dispatch-Stream"] = javaSample{dispatch(sm), want}

	bm := msg(TypeBytesMessage, 6)
	bm.SetContent([]byte{1, 2, 3, 0xfe})
	s["Dispatch-Bytes"] = javaSample{dispatch(bm), []string{"BYTES 010203fe"}}
	cbm := msg(TypeBytesMessage, 7)
	cbm.SetContent([]byte(alphabet(3000)))
	if err := cbm.Compress(); err != nil {
		t.Fatal(err)
	}
	s["Dispatch-Bytes-compressed"] = javaSample{dispatch(cbm), []string{fmt.Sprintf("BYTES %x", alphabet(3000)), "MESSAGE class=ActiveMQBytesMessage id=ID:go-1:1:1:7 destination=queue://orders persistent=true priority=4 correlation=null type=null replyTo=null compressed=true"}}
	om := msg(TypeObjectMessage, 8)
	om.SetContent([]byte{0xac, 0xed, 0, 5, 't', 0, 1, 'x'})
	s["Dispatch-Object"] = javaSample{dispatch(om), []string{"OBJECT 8 bytes"}}

	adv := msg(TypeMessage, 9)
	adv.Destination = NewTopic("ActiveMQ.Advisory.TempQueue")
	adv.DataStructure = &DestinationInfo{ConnectionID: conn, Destination: NewTempQueue("ID:go-1:1:1")}
	s["Dispatch-Advisory"] = javaSample{dispatch(adv), []string{"CARRIES DestinationInfo"}}
	s["Dispatch-null"] = javaSample{&MessageDispatch{ConsumerID: cid, Destination: queue}, []string{"DISPATCH consumer=ID:go-1:1:1 destination=queue://orders message=false"}}
	return s
}
