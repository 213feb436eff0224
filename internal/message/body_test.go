package message

import (
	"encoding/json"
	"testing"
)

func TestMapAndListBodiesRoundTrip(t *testing.T) {
	entries := []Property{Int64("qty", KindInt, 3), Str("sku", "A-1"), Bool("ok", true), Null("none"),
		Binary("raw", []byte{0, 0xff}), Double("price", 2.5), Char("c", 'é')}
	got, err := DecodeMap(EncodeMap(entries))
	if err != nil || len(got) != len(entries) {
		t.Fatalf("DecodeMap: %v, %d entries", err, len(got))
	}
	for i := range entries {
		if got[i] != entries[i] {
			t.Fatalf("entry %d: %+v, want %+v", i, got[i], entries[i])
		}
	}
	vals, err := DecodeList(EncodeList(entries))
	if err != nil || len(vals) != len(entries) || vals[0].Key != "" || vals[1].Value != "A-1" {
		t.Fatalf("DecodeList: %v %+v", err, vals)
	}
}

func TestMalformedBodiesAreRefused(t *testing.T) {
	good := EncodeMap([]Property{Int64("n", KindInt, 1)})
	for _, p := range [][]byte{nil, {5}, good[:len(good)-1], append(good, 0), {1, 1, 'k', 99, 0}, {1, 1, 'k', byte(KindInt), 1, 'x'}} {
		if _, err := DecodeMap(p); err == nil {
			t.Errorf("DecodeMap(%v) accepted a malformed body", p)
		}
	}
}

func TestJSON(t *testing.T) {
	body := EncodeMap([]Property{Int64("qty", KindInt, 3), Str("say", "\"hi\"\n"), Bool("ok", false), Null("n"),
		Binary("raw", []byte("hi")), Double("big", 1e21)})
	out, ok := JSON(BodyMap, body)
	if !ok {
		t.Fatal("JSON refused a map")
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s is not JSON: %v", out, err)
	}
	if v["qty"] != 3.0 || v["say"] != "\"hi\"\n" || v["ok"] != false || v["n"] != nil || v["raw"] != "aGk=" || v["big"] != 1e21 {
		t.Fatalf("JSON of the map: %s", out)
	}
	list, _ := JSON(BodyList, EncodeList([]Property{Str("", "a"), Int64("", KindLong, -1)}))
	if string(list) != `["a",-1]` {
		t.Fatalf("JSON of a list: %s", list)
	}
	if _, ok := JSON(BodyText, []byte("x")); ok {
		t.Fatal("JSON rendered a text body")
	}
}

func TestPropertyChecks(t *testing.T) {
	cases := []struct {
		p    Property
		want bool
	}{
		{Int64("b", KindByte, 127), true}, {Property{Key: "b", Value: "128", Kind: KindByte}, false},
		{Property{Key: "s", Value: "-32769", Kind: KindShort}, false}, {Uint64("u", KindUInt, 1<<32-1), true},
		{Property{Key: "u", Value: "-1", Kind: KindULong}, false}, {Property{Key: "b", Value: "yes", Kind: KindBool}, false},
		{Property{Key: "c", Value: "ab", Kind: KindChar}, false}, {Char("c", 'x'), true},
		{Property{Key: "n", Value: "x", Kind: KindNull}, false}, {Property{Key: "u", Value: "not-a-uuid", Kind: KindUUID}, false},
		{Property{Key: "k", Kind: Kind(99)}, false},
	}
	for _, tc := range cases {
		if got := tc.p.Check(); got != tc.want {
			t.Errorf("%+v.Check() = %v, want %v", tc.p, got, tc.want)
		}
	}
	u := [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if back, ok := ParseUUID(FormatUUID(u)); !ok || back != u {
		t.Fatalf("UUID round trip: %v %v", back, ok)
	}
}

func TestDestinations(t *testing.T) {
	cases := []struct {
		in   string
		want Destination
		ok   bool
	}{
		{"queue://a.b", Destination{DestQueue, "a.b"}, true},
		{"/topic/news", Destination{DestTopic, "news"}, true},
		{"/temp-queue/r1", Destination{DestTempQueue, "r1"}, true},
		{"temp-topic://t", Destination{DestTempTopic, "t"}, true},
		{"plain", Destination{}, false},
		{"queue://", Destination{}, false},
	}
	for _, tc := range cases {
		d, ok := ParseDestination(tc.in)
		if ok != tc.ok || d != tc.want {
			t.Errorf("ParseDestination(%q) = %+v, %v", tc.in, d, ok)
		}
	}
	if s := (Destination{DestTopic, "x"}).String(); s != "topic://x" {
		t.Fatalf("String() = %q", s)
	}
}
