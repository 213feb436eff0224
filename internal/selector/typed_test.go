package selector

import (
	"testing"

	"tandem/internal/message"
)

// TestTypedProperties checks JMS's rules on typed properties, as OpenWire
// and AMQP producers send them: numbers compare as numbers whatever their
// width, booleans are truth values, and a typed number never meets a string
// as text would.
func TestTypedProperties(t *testing.T) {
	m := &message.Message{Address: "orders", Properties: []message.Property{
		message.Int64("qty", message.KindInt, 12),
		message.Int64("small", message.KindByte, -3),
		message.Int64("big", message.KindLong, 1<<40),
		message.Double("price", 2.5),
		message.Float("ratio", 0.25),
		message.Bool("urgent", true),
		message.Uint64("huge", message.KindULong, 1<<63),
		message.Null("nothing"),
		message.Binary("blob", []byte("12")),
		message.Char("grade", 'A'),
		message.Str("text", "12"),
	}}
	m.EditExtra(func(x *message.Extra) {
		x.GroupID, x.GroupSeq, x.UserID, x.MessageID = "g-7", 4, "alice", "ID:client-9"
	})
	cases := []matchCase{
		{"qty = 12", nil, T},
		{"qty > 11.5", nil, T},
		{"qty BETWEEN 10 AND 20", nil, T},
		{"small < 0", nil, T},
		{"big = 1099511627776", nil, T},
		{"price * 2 = 5", nil, T},
		{"ratio = 0.25", nil, T},
		{"urgent", nil, T},
		{"urgent = TRUE", nil, T},
		{"NOT urgent", nil, F},
		{"huge > 0", nil, T},
		{"nothing IS NULL", nil, T},
		{"nothing = 1", nil, U},
		{"blob = '12'", nil, U},
		{"grade = 'A'", nil, T},
		// A typed number is not text: JMS makes a comparison of unlike
		// types false.
		{"qty = '12'", nil, F},
		// An untyped (STOMP) string keeps meeting numbers as a number.
		{"text = 12", nil, T},
		{"text = '12'", nil, T},
		{"JMSXGroupID = 'g-7'", nil, T},
		{"JMSXGroupSeq = 4", nil, T},
		{"JMSXUserID = 'alice'", nil, T},
		{"JMSMessageID = 'ID:client-9'", nil, T},
	}
	for _, c := range cases {
		if got := evalTri(t, c.sel, m, 1); got != c.want {
			t.Errorf("%q = %v, want %v", c.sel, got, c.want)
		}
	}
}

// TestTypedMatchDoesNotAllocate keeps Match allocation-free on typed
// properties, as on text.
func TestTypedMatchDoesNotAllocate(t *testing.T) {
	s, err := Compile("qty > 10 AND price < 3.0 AND urgent")
	if err != nil {
		t.Fatal(err)
	}
	m := &message.Message{Properties: []message.Property{
		message.Int64("qty", message.KindInt, 12), message.Double("price", 2.5), message.Bool("urgent", true)}}
	if n := testing.AllocsPerRun(100, func() { s.Match(m, 1) }); n != 0 {
		t.Fatalf("Match allocates %v times per run", n)
	}
}
