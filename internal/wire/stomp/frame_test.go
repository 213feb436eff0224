package stomp

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func unsafeStringData(s string) *byte { return unsafe.StringData(s) }

func TestHeaders(t *testing.T) {
	var h Headers
	h.Add("foo", "1")
	h.Add("bar", "2")
	h.Add("foo", "3")
	if v, ok := h.Get("foo"); !ok || v != "1" {
		t.Fatalf("Get(foo) = %q, %v; the first occurrence must win", v, ok)
	}
	if _, ok := h.Get("nope"); ok {
		t.Fatal("Get(nope) found something")
	}
	if h.Value("bar") != "2" || h.Value("nope") != "" {
		t.Fatal("Value is wrong")
	}
	h.Set("foo", "x")
	if h[0].Value != "x" || h[2].Value != "3" {
		t.Fatalf("Set must replace only the first occurrence: %v", h)
	}
	h.Set("baz", "y")
	if h[3] != (Header{"baz", "y"}) {
		t.Fatalf("Set must append a missing key: %v", h)
	}
	h.Del("foo")
	if len(h) != 2 || h[0].Key != "bar" || h[1].Key != "baz" {
		t.Fatalf("Del must remove every occurrence: %v", h)
	}
	var empty Headers
	empty.Del("x")
	empty.Set("a", "b")
	if empty.Value("a") != "b" {
		t.Fatal("Set on nil Headers")
	}
}

func TestFrameString(t *testing.T) {
	f := fr(CmdConnect, "xyz", "login", "u", "passcode", "secret")
	s := f.String()
	if strings.Contains(s, "secret") {
		t.Fatalf("String leaks the passcode: %s", s)
	}
	if !strings.Contains(s, `CONNECT login:"u"`) || !strings.Contains(s, "body=3B") {
		t.Fatalf("String = %s", s)
	}
	if (&Frame{}).String() != "heart-beat" || !(&Frame{}).IsHeartBeat() || f.IsHeartBeat() {
		t.Fatal("heart-beat rendering or detection is wrong")
	}
}

func TestNegotiateVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{"", V10, false},
		{"1.0", V10, false},
		{"1.1", V11, false},
		{"1.2", V12, false},
		{"1.0,1.1,1.2", V12, false},
		{"1.2,1.0", V12, false},
		{"1.0, 1.1", V11, false},
		{"1.1,1.3", V11, false},
		{"2.0", V10, true},
		{"1.3,", V10, true},
		{" , ", V10, true},
	}
	for _, tc := range tests {
		got, err := NegotiateVersion(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("NegotiateVersion(%q) = %v, %v; want %v, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("NegotiateVersion(%q) error %v does not wrap ErrUnsupportedVersion", tc.in, err)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{"": V10, "1.0": V10, "1.1": V11, "1.2": V12} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseVersion("1.5"); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("ParseVersion(1.5) error = %v", err)
	}
	if V12.String() != "1.2" || V10.String() != "1.0" || Version(9).String() != "Version(9)" {
		t.Error("Version.String is wrong")
	}
}

func TestParseHeartBeat(t *testing.T) {
	tests := []struct {
		in      string
		cx, cy  int
		wantErr bool
	}{
		{"", 0, 0, false},
		{"0,0", 0, 0, false},
		{"10000,5000", 10000, 5000, false},
		{"100, 200", 100, 200, false},
		{"100", 0, 0, true},
		{"a,b", 0, 0, true},
		{"-1,5", 0, 0, true},
		{"1,2,3", 0, 0, true},
		{",", 0, 0, true},
		{"99999999999999999999,1", 0, 0, true},
	}
	for _, tc := range tests {
		cx, cy, err := ParseHeartBeat(tc.in)
		if (err != nil) != tc.wantErr || cx != tc.cx || cy != tc.cy {
			t.Errorf("ParseHeartBeat(%q) = %d, %d, %v", tc.in, cx, cy, err)
		}
		if err != nil && !errors.Is(err, ErrBadFrame) {
			t.Errorf("ParseHeartBeat(%q) error does not wrap ErrBadFrame", tc.in)
		}
	}
}

func TestHeartBeatNegotiation(t *testing.T) {
	s := time.Second
	tests := []struct {
		ls, lr, rs, rr     time.Duration
		wantSend, wantRecv time.Duration
	}{
		{0, 0, 0, 0, 0, 0},
		{s, s, 0, 0, 0, 0},
		{s, s, 2 * s, 3 * s, 3 * s, 2 * s},
		{5 * s, 0, 1 * s, 1 * s, 5 * s, 0},
		{0, 5 * s, 1 * s, 1 * s, 0, 5 * s},
	}
	for _, tc := range tests {
		send, recv := NegotiateHeartBeat(tc.ls, tc.lr, tc.rs, tc.rr)
		if send != tc.wantSend || recv != tc.wantRecv {
			t.Errorf("NegotiateHeartBeat(%v,%v,%v,%v) = %v,%v want %v,%v", tc.ls, tc.lr, tc.rs, tc.rr, send, recv, tc.wantSend, tc.wantRecv)
		}
	}
	if got := FormatHeartBeat(10*s, 1500*time.Millisecond); got != "10000,1500" {
		t.Errorf("FormatHeartBeat = %q", got)
	}
}

func TestInterning(t *testing.T) {
	for _, c := range []string{CmdConnect, CmdStomp, CmdSend, CmdSubscribe, CmdUnsubscribe, CmdAck, CmdNack,
		CmdBegin, CmdCommit, CmdAbort, CmdDisconnect, CmdConnected, CmdMessage, CmdReceipt, CmdError} {
		if internCommand([]byte(c)) != c || !isKnownCommand(c) {
			t.Errorf("command %s is not recognised", c)
		}
	}
	if isKnownCommand("") || isKnownCommand("send") || internKey([]byte("x-unknown")) != "" {
		t.Error("unknown names are recognised")
	}
	if internKey([]byte(HdrReceiptID)) != HdrReceiptID {
		t.Error("receipt-id is not interned")
	}
}
