package selector

import (
	"strings"
	"testing"

	"tandem/internal/message"
)

// tri is a test's expected truth value: a selector is TRUE if it matches,
// FALSE if NOT (selector) matches, and unknown if neither does. Checking both
// tells FALSE from unknown, which Match alone cannot.
type tri uint8

const (
	U tri = iota
	T
	F
)

func (t tri) String() string { return [...]string{"U", "T", "F"}[t] }

// testDeliveryCount is the JMSXDeliveryCount the table runs with.
const testDeliveryCount = 3

// fullMessage has every header set.
func fullMessage(props ...string) *message.Message {
	m := &message.Message{
		ID:         42,
		Address:    "orders",
		Durable:    true,
		Priority:   7,
		Timestamp:  1700000000000,
		Expiration: 1700000060000,
		Extra:      &message.Extra{ContentType: "text/plain", CorrelationID: "corr-1", ReplyTo: "/queue/replies", Type: "order"},
	}
	addProps(m, props)
	return m
}

// bareMessage has no optional header set: non-durable, not yet routed.
func bareMessage(props ...string) *message.Message {
	m := &message.Message{Address: "orders"}
	addProps(m, props)
	return m
}

// addProps appends "key=value" properties, splitting at the first '='.
func addProps(m *message.Message, props []string) {
	for _, kv := range props {
		k, v, _ := strings.Cut(kv, "=")
		m.Properties = append(m.Properties, message.Property{Key: k, Value: v})
	}
}

// evalTri evaluates sel against m as a truth value.
func evalTri(t *testing.T, sel string, m *message.Message, dc uint32) tri {
	t.Helper()
	s, err := Compile(sel)
	if err != nil {
		t.Fatalf("Compile(%q): %v", sel, err)
	}
	n, err := Compile("NOT (" + sel + ")")
	if err != nil {
		t.Fatalf("Compile(NOT (%q)): %v", sel, err)
	}
	yes, no := s.Match(m, dc), n.Match(m, dc)
	switch {
	case yes && no:
		t.Fatalf("%q and its negation both match", sel)
	case yes:
		return T
	case no:
		return F
	}
	return U
}

// matchCase is one row of the specification table.
type matchCase struct {
	sel   string
	props []string
	want  tri
}

// specCases follows the JMS 2.0 specification's selector rules, section
// 3.8.1, plus the text-typed property rule of doc.go. They run against
// fullMessage with the props and JMSXDeliveryCount 3.
var specCases = []matchCase{
	// Literals and simple string comparison.
	{"TRUE", nil, T},
	{"FALSE", nil, F},
	{"true", nil, T},
	{"tRuE", nil, T},
	{"color = 'red'", []string{"color=red"}, T},
	{"color = 'red'", []string{"color=blue"}, F},
	{"color = 'red'", nil, U},
	{"color <> 'red'", []string{"color=red"}, F},
	{"color <> 'red'", []string{"color=blue"}, T},
	{"color <> 'red'", nil, U},
	{"'red' = color", []string{"color=red"}, T},
	{"color = 'Red'", []string{"color=red"}, F},
	{"color = 'it''s'", []string{"color=it's"}, T},
	{"color = ''''", []string{"color='"}, T},
	{"color = ''", []string{"color="}, T},
	{"color = ''", nil, U},
	{"color = 'rouge éclatant'", []string{"color=rouge éclatant"}, T},
	{" \tcolor\n=\r\n'red'\f", []string{"color=red"}, T},
	{"color = 'red'", []string{"color=red", "color=blue"}, T},
	{"color = 'blue'", []string{"color=red", "color=blue"}, F},

	// Identifiers are case-sensitive and follow Java's rules; keywords
	// are not case-sensitive.
	{"Color = 'red'", []string{"color=red"}, U},
	{"COLOR = 'red'", []string{"COLOR=red"}, T},
	{"$x = 'a'", []string{"$x=a"}, T},
	{"_x1 = 'a'", []string{"_x1=a"}, T},
	{"größe = 'L'", []string{"größe=L"}, T},
	{"ANDroid = 'a' and NOTE = 'b' AnD ISx = 'c' oR INx = 'd'", []string{"ANDroid=a", "NOTE=b", "ISx=c"}, T},
	{"color = 'red' aNd NOT weight > 5 Or FALSE", []string{"color=red", "weight=2"}, T},

	// Exact and approximate numeric literals.
	{"n = 1", []string{"n=1"}, T},
	{"n = 1", []string{"n=1.0"}, T},
	{"n = 1", []string{"n=01"}, T},
	{"n = 1.5", []string{"n=1.5"}, T},
	{"n = 1e3", []string{"n=1000"}, T},
	{"n = 1E3", []string{"n=1000"}, T},
	{"n = 1e+3", []string{"n=1000.0"}, T},
	{"n = 1500e-3", []string{"n=1.5"}, T},
	{"n = .5", []string{"n=0.5"}, T},
	{"n = 5.", []string{"n=5"}, T},
	{"n = 1.e1", []string{"n=10"}, T},
	{"n = 10L", []string{"n=10"}, T},
	{"n = 10l", []string{"n=10"}, T},
	{"n = 2d", []string{"n=2"}, T},
	{"n = 2.5f", []string{"n=2.5"}, T},
	{"n = 2.5D", []string{"n=2.5"}, T},
	{"n = 0x1F", []string{"n=31"}, T},
	{"n = 0X1fL", []string{"n=31"}, T},
	{"n = 017", []string{"n=15"}, T},
	{"n = 0", []string{"n=0"}, T},
	{"n = 08.5", []string{"n=8.5"}, T},
	{"n = -5", []string{"n=-5"}, T},
	{"n = +5", []string{"n=+5"}, T},
	{"n = - 5", []string{"n=-5"}, T},
	{"n = -9223372036854775808", []string{"n=-9223372036854775808"}, T},
	{"n = 9223372036854775807", []string{"n=9223372036854775807"}, T},
	{"n = 0xFFFFFFFFFFFFFFFF", []string{"n=-1"}, T},
	{"n = 1e-400", []string{"n=0"}, T},
	{"n = 1", []string{"n= 1"}, U},
	{"n = 1", []string{"n=1_000"}, U},
	{"n = 1", []string{"n=Inf"}, U},
	{"n > 1", []string{"n=1e999"}, U},

	// Arithmetic, with Java's promotion and integer division.
	{"n + 1 = 3", []string{"n=2"}, T},
	{"n - 1 = 1", []string{"n=2"}, T},
	{"n * 2 = 4", []string{"n=2"}, T},
	{"n / 2 = 1", []string{"n=3"}, T},
	{"n / 2 = 1.5", []string{"n=3.0"}, T},
	{"n / 2.0 = 1.5", []string{"n=3"}, T},
	{"7 / 2 = 3", nil, T},
	{"-7 / 2 = -3", nil, T},
	{"1 + 1.5 = 2.5", nil, T},
	{"1.5 * 2 = 3", nil, T},
	{"2 + 3 * 4 = 14", nil, T},
	{"(2 + 3) * 4 = 20", nil, T},
	{"10 - 2 - 3 = 5", nil, T},
	{"12 / 2 / 3 = 2", nil, T},
	{"10 - (2 - 3) = 11", nil, T},
	{"-n = -2", []string{"n=2"}, T},
	{"-(n) = -2", []string{"n=2"}, T},
	{"- -n = 2", []string{"n=2"}, T},
	{"-2 * -3 = 6", nil, T},
	{"+n = 2", []string{"n=2"}, T},
	{"+n = '2'", []string{"n=2"}, F},
	{"a + b = 3", []string{"a=1", "b=2"}, T},
	{"9223372036854775807 + 1 < 0", nil, T},
	{"-9223372036854775808 / -1 = -9223372036854775808", nil, T},
	{"n / 0 = 0", []string{"n=1"}, U},
	{"n / 0 <> 0", []string{"n=1"}, U},
	{"1 / 0.0 > 0", nil, U},
	{"0.0 / 0.0 = 0", nil, U},
	{"n + 1 > 0", []string{"n=abc"}, U},
	{"n + 1 > 0", nil, U},
	{"-n < 0", []string{"n=abc"}, U},

	// Numeric comparison.
	{"n > 2.5", []string{"n=3.7"}, T},
	{"n > 2.5", []string{"n=2.5"}, F},
	{"n > 2.5", []string{"n=1"}, F},
	{"n > 2.5", nil, U},
	{"n > 2.5", []string{"n=heavy"}, U},
	{"n >= 2.5", []string{"n=2.5"}, T},
	{"n < 2.5", []string{"n=2"}, T},
	{"n <= 2.5", []string{"n=2.5"}, T},
	{"n <= 2.5", []string{"n=2.6"}, F},
	{"n <> 3", []string{"n=4"}, T},
	{"n <> 3", []string{"n=3.0"}, F},
	{"3 > 2", nil, T},
	{"2 >= 3", nil, F},
	{"2.0 = 2", nil, T},
	{"n = 9007199254740993", []string{"n=9007199254740993"}, T},
	{"n > 9007199254740992", []string{"n=9007199254740993"}, T},
	{"a < b", []string{"a=1", "b=2"}, T},
	{"a < b", []string{"a=x", "b=y"}, U},

	// Strings meeting numbers and booleans.
	{"color = 1", []string{"color=red"}, U},
	{"'red' = 1", nil, F},
	{"'1' = 1", nil, F},
	{"JMSType = 1", nil, F},
	{"JMSPriority = '7'", nil, F},
	{"TRUE = 1", nil, F},
	{"TRUE = 'TRUE'", nil, F},
	{"n = '10'", []string{"n=10"}, T},
	{"n = '10'", []string{"n=10.0"}, F},
	{"n = 10", []string{"n=10.0"}, T},
	{"n <> '10'", []string{"n=10.0"}, T},

	// Booleans.
	{"flag", []string{"flag=true"}, T},
	{"flag", []string{"flag=TRUE"}, T},
	{"flag", []string{"flag=false"}, F},
	{"flag", []string{"flag=yes"}, U},
	{"flag", nil, U},
	{"NOT flag", []string{"flag=false"}, T},
	{"flag = TRUE", []string{"flag=true"}, T},
	{"flag = TRUE", []string{"flag=False"}, F},
	{"flag = TRUE", []string{"flag=1"}, U},
	{"flag <> FALSE", []string{"flag=true"}, T},
	{"flag = 'true'", []string{"flag=true"}, T},
	{"flag = 'true'", []string{"flag=TRUE"}, F},
	{"TRUE = TRUE", nil, T},
	{"TRUE <> FALSE", nil, T},
	{"(1 < 2) = TRUE", nil, T},
	{"(n > 2) = (m > 2)", []string{"n=3", "m=5"}, T},
	{"(n > 2) = (m > 2)", []string{"n=3"}, U},
	{"flag AND n > 1", []string{"flag=true", "n=2"}, T},

	// Two properties.
	{"a = b", []string{"a=1", "b=1.0"}, T},
	{"a = b", []string{"a=x", "b=x"}, T},
	{"a = b", []string{"a=x", "b=y"}, F},
	{"a = b", []string{"a=true", "b=TRUE"}, T},
	{"a = b", []string{"a=1", "b=x"}, F},
	{"a = b", []string{"b=x"}, U},
	{"a <> b", []string{"a=2", "b=1"}, T},

	// BETWEEN includes its bounds and is x >= lo AND x <= hi.
	{"n BETWEEN 1 AND 3", []string{"n=1"}, T},
	{"n BETWEEN 1 AND 3", []string{"n=2"}, T},
	{"n BETWEEN 1 AND 3", []string{"n=3"}, T},
	{"n BETWEEN 1 AND 3", []string{"n=1.5"}, T},
	{"n BETWEEN 1 AND 3", []string{"n=0"}, F},
	{"n BETWEEN 1 AND 3", []string{"n=4"}, F},
	{"n BETWEEN 1 AND 3", []string{"n=3.0000001"}, F},
	{"n BETWEEN 1 AND 3", nil, U},
	{"n BETWEEN 1 AND 3", []string{"n=abc"}, U},
	{"n BETWEEN 3 AND 1", []string{"n=2"}, F},
	{"n NOT BETWEEN 1 AND 3", []string{"n=0"}, T},
	{"n NOT BETWEEN 1 AND 3", []string{"n=4"}, T},
	{"n NOT BETWEEN 1 AND 3", []string{"n=1"}, F},
	{"n NOT BETWEEN 1 AND 3", []string{"n=3"}, F},
	{"n NOT BETWEEN 1 AND 3", nil, U},
	{"n BETWEEN lo AND 3", []string{"n=5"}, F},
	{"n BETWEEN lo AND 3", []string{"n=2"}, U},
	{"n BETWEEN 1 AND hi", []string{"n=0"}, F},
	{"n NOT BETWEEN lo AND 3", []string{"n=5"}, T},
	{"n NOT BETWEEN lo AND 3", []string{"n=2"}, U},
	{"n BETWEEN lo AND hi", []string{"n=2", "lo=1", "hi=3.5"}, T},
	{"n BETWEEN 1 AND 3 AND color = 'red'", []string{"n=2", "color=red"}, T},
	{"n BETWEEN 1 AND 3 AND color = 'red'", []string{"n=2", "color=blue"}, F},
	{"n + 1 BETWEEN 2 * 1 AND 3 - 1", []string{"n=1"}, T},
	{"NOT n BETWEEN 1 AND 3", []string{"n=5"}, T},
	{"JMSPriority BETWEEN 4 AND 9", nil, T},
	{"2.5 BETWEEN 2 AND 3", nil, T},

	// IN takes string literals; a NULL operand is unknown.
	{"c IN ('red', 'green')", []string{"c=red"}, T},
	{"c IN ('red', 'green')", []string{"c=green"}, T},
	{"c IN ('red', 'green')", []string{"c=blue"}, F},
	{"c IN ('red', 'green')", []string{"c=RED"}, F},
	{"c IN ('red', 'green')", nil, U},
	{"c NOT IN ('red', 'green')", []string{"c=blue"}, T},
	{"c NOT IN ('red', 'green')", []string{"c=red"}, F},
	{"c NOT IN ('red', 'green')", nil, U},
	{"c IN ('red')", []string{"c=red"}, T},
	{"c IN ('it''s', 'x')", []string{"c=it's"}, T},
	{"c IN ('')", []string{"c="}, T},
	{"c IN ('a','b','c','d','e','f','g','h','i')", []string{"c=i"}, T},
	{"c IN ('a','b','c','d','e','f','g','h','i')", []string{"c=z"}, F},
	{"c IN ('a','b','c','d','e','f','g','h','i')", nil, U},
	{"c NOT IN ('a','b','c','d','e','f','g','h','i')", []string{"c=z"}, T},
	{"c NOT IN ('a','b','c','d','e','f','g','h','i')", []string{"c=a"}, F},
	{"n IN ('1', '2')", []string{"n=1"}, T},
	{"n IN ('1', '2')", []string{"n=1.0"}, F},
	{"JMSType IN ('order', 'invoice')", nil, T},
	{"JMSDeliveryMode IN ('PERSISTENT')", nil, T},
	{"c in ('red') or c NoT iN ('blue')", []string{"c=red"}, T},

	// LIKE: % is any sequence, _ one character, ESCAPE makes them literal.
	{"c LIKE 'r%'", []string{"c=red"}, T},
	{"c LIKE 'r%'", []string{"c=r"}, T},
	{"c LIKE 'r%'", []string{"c=blue"}, F},
	{"c LIKE 'r%'", nil, U},
	{"c LIKE 'R%'", []string{"c=red"}, F},
	{"c LIKE '%ed'", []string{"c=red"}, T},
	{"c LIKE '%e%'", []string{"c=red"}, T},
	{"c LIKE '%x%'", []string{"c=red"}, F},
	{"c LIKE 'r_d'", []string{"c=red"}, T},
	{"c LIKE 'r_d'", []string{"c=reed"}, F},
	{"c LIKE '___'", []string{"c=red"}, T},
	{"c LIKE '___'", []string{"c=re"}, F},
	{"c LIKE '_'", []string{"c=é"}, T},
	{"c LIKE '_'", []string{"c=😀"}, T},
	{"c LIKE 'a_c'", []string{"c=a😀c"}, T},
	{"c LIKE '%'", []string{"c="}, T},
	{"c LIKE ''", []string{"c="}, T},
	{"c LIKE ''", []string{"c=x"}, F},
	{"c LIKE '%_'", []string{"c="}, F},
	{"c LIKE '_%_'", []string{"c=ab"}, T},
	{"c LIKE '_%_'", []string{"c=a"}, F},
	{"c LIKE 'a%b%c'", []string{"c=abc"}, T},
	{"c LIKE 'a%b%c'", []string{"c=aXbYc"}, T},
	{"c LIKE 'a%b%c'", []string{"c=acb"}, F},
	{"c LIKE 'ab%ab'", []string{"c=ab"}, F},
	{"c LIKE 'ab%ab'", []string{"c=abab"}, T},
	{"c LIKE 'ab%ab'", []string{"c=abXab"}, T},
	{"c LIKE '%ab%ab'", []string{"c=ab"}, F},
	{"c LIKE '%ab%ab'", []string{"c=xabyab"}, T},
	{"c LIKE '%a_c%'", []string{"c=xxabxaxc"}, T},
	{"c LIKE '%a_c%'", []string{"c=xxabxaxd"}, F},
	{"c LIKE '%_b_%'", []string{"c=abc"}, T},
	{"c LIKE '%a%a%a%a%a%a%a%a%b'", []string{"c=" + strings.Repeat("a", 200)}, F},
	{"c LIKE '%\\_%' ESCAPE '\\'", []string{"c=a_b"}, T},
	{"c LIKE '%\\_%' ESCAPE '\\'", []string{"c=ab"}, F},
	{"c LIKE '100!%' ESCAPE '!'", []string{"c=100%"}, T},
	{"c LIKE '100!%' ESCAPE '!'", []string{"c=1000"}, F},
	{"c LIKE '!!%' ESCAPE '!'", []string{"c=!x"}, T},
	{"c LIKE 'a%%' ESCAPE '%'", []string{"c=a%"}, T},
	{"c LIKE 'a%%' ESCAPE '%'", []string{"c=ab"}, F},
	{"c LIKE 'a.c'", []string{"c=abc"}, F},
	{"c LIKE '[a]*(b)'", []string{"c=[a]*(b)"}, T},
	{"c LIKE 'line%'", []string{"c=line1\nline2"}, T},
	{"c NOT LIKE 'r%'", []string{"c=blue"}, T},
	{"c NOT LIKE 'r%'", []string{"c=red"}, F},
	{"c NOT LIKE 'r%'", nil, U},
	{"c like 'r!%' escape '!'", []string{"c=r%"}, T},
	{"JMSType LIKE 'ord%'", nil, T},
	{"JMSMessageID LIKE 'ID:%'", nil, T},

	// IS [NOT] NULL is never unknown.
	{"c IS NULL", nil, T},
	{"c IS NULL", []string{"c=x"}, F},
	{"c IS NULL", []string{"c="}, F},
	{"c IS NOT NULL", []string{"c=x"}, T},
	{"c IS NOT NULL", nil, F},
	{"c is not null", []string{"c=x"}, T},
	{"n + 1 IS NULL", nil, T},
	{"n + 1 IS NULL", []string{"n=abc"}, T},
	{"n + 1 IS NULL", []string{"n=1"}, F},
	{"(c = 'x') IS NULL", nil, T},
	{"JMSCorrelationID IS NULL", nil, F},
	{"JMSCorrelationID IS NOT NULL", nil, T},

	// Precedence: arithmetic, comparison, NOT, AND, OR.
	{"TRUE OR FALSE AND FALSE", nil, T},
	{"(TRUE OR FALSE) AND FALSE", nil, F},
	{"NOT FALSE AND FALSE", nil, F},
	{"NOT (FALSE AND FALSE)", nil, T},
	{"NOT TRUE OR TRUE", nil, T},
	{"NOT 1 = 2", nil, T},
	{"NOT NOT TRUE", nil, T},
	{"1 + 2 * 3 = 7", nil, T},
	{"1 + 2 = 3 AND 2 * 3 = 6", nil, T},
	{"FALSE OR FALSE OR TRUE", nil, T},
	{"TRUE AND TRUE AND FALSE", nil, F},
	{"a = 1 OR b = 2 AND c = 3", []string{"a=1"}, T},
	{"(a = 1 OR b = 2) AND c = 3", []string{"a=1"}, U},
	{"((((a = 1))))", []string{"a=1"}, T},

	// Headers.
	{"JMSPriority = 7", nil, T},
	{"JMSPriority > 4", nil, T},
	{"AMQPriority = 7", nil, T},
	{"JMSPriority = 7", []string{"JMSPriority=1"}, T},
	{"jmspriority = 7", nil, U},
	{"JMSTimestamp = 1700000000000", nil, T},
	{"AMQTimestamp > 0", nil, T},
	{"JMSExpiration = 1700000060000", nil, T},
	{"AMQExpiration = JMSExpiration", nil, T},
	{"JMSExpiration - JMSTimestamp = 60000", nil, T},
	{"JMSCorrelationID = 'corr-1'", nil, T},
	{"JMSType = 'order'", nil, T},
	{"JMSReplyTo = '/queue/replies'", nil, T},
	{"JMSMessageID = 'ID:42'", nil, T},
	{"JMSDeliveryMode = 'PERSISTENT'", nil, T},
	{"JMSDeliveryMode = 'NON_PERSISTENT'", nil, F},
	{"AMQDurable = 'DURABLE'", nil, T},
	{"JMSXDeliveryCount = 3", nil, T},
	{"JMSXDeliveryCount > 1", nil, T},
	{"JMSXDeliveryCount = 3", []string{"JMSXDeliveryCount=1"}, T},
	{"JMSType = kind", []string{"kind=order"}, T},
	{"JMSPriority = p", []string{"p=7.0"}, T},
	{"JMSXGroupID = 'g1'", []string{"JMSXGroupID=g1"}, T},
}

func TestSpecTable(t *testing.T) {
	for _, c := range specCases {
		got := evalTri(t, c.sel, fullMessage(c.props...), testDeliveryCount)
		if got != c.want {
			t.Errorf("%q with %q = %v, want %v", c.sel, c.props, got, c.want)
		}
	}
}

// TestBareHeaders checks headers that a message may lack.
func TestBareHeaders(t *testing.T) {
	cases := []matchCase{
		{"JMSDeliveryMode = 'NON_PERSISTENT'", nil, T},
		{"AMQDurable = 'NON_DURABLE'", nil, T},
		{"JMSCorrelationID IS NULL", nil, T},
		{"JMSCorrelationID = 'x'", nil, U},
		{"JMSCorrelationID IN ('x')", nil, U},
		{"JMSType LIKE '%'", nil, U},
		{"JMSReplyTo <> 'x'", nil, U},
		{"JMSMessageID IS NULL", nil, T},
		{"JMSExpiration = 0", nil, T},
		{"JMSPriority = 0", nil, T},
		{"JMSXDeliveryCount = 1", nil, T},
	}
	for _, c := range cases {
		if got := evalTri(t, c.sel, bareMessage(c.props...), 1); got != c.want {
			t.Errorf("%q on a bare message = %v, want %v", c.sel, got, c.want)
		}
	}
}

// TestThreeValuedLogic checks AND, OR and NOT against the specification's
// truth tables for every combination of TRUE, FALSE and unknown.
func TestThreeValuedLogic(t *testing.T) {
	operands := map[tri]string{T: "TRUE", F: "FALSE", U: "missing = 1"}
	and := map[[2]tri]tri{
		{T, T}: T, {T, F}: F, {T, U}: U,
		{F, T}: F, {F, F}: F, {F, U}: F,
		{U, T}: U, {U, F}: F, {U, U}: U,
	}
	or := map[[2]tri]tri{
		{T, T}: T, {T, F}: T, {T, U}: T,
		{F, T}: T, {F, F}: F, {F, U}: U,
		{U, T}: T, {U, F}: U, {U, U}: U,
	}
	not := map[tri]tri{T: F, F: T, U: U}
	m := fullMessage()
	for pair, want := range and {
		sel := "(" + operands[pair[0]] + ") AND (" + operands[pair[1]] + ")"
		if got := evalTri(t, sel, m, 1); got != want {
			t.Errorf("%v AND %v = %v, want %v", pair[0], pair[1], got, want)
		}
	}
	for pair, want := range or {
		sel := "(" + operands[pair[0]] + ") OR (" + operands[pair[1]] + ")"
		if got := evalTri(t, sel, m, 1); got != want {
			t.Errorf("%v OR %v = %v, want %v", pair[0], pair[1], got, want)
		}
	}
	for x, want := range not {
		if got := evalTri(t, "NOT ("+operands[x]+")", m, 1); got != want {
			t.Errorf("NOT %v = %v, want %v", x, got, want)
		}
	}
	// Every comparison operator is unknown on NULL, on either side.
	for _, op := range []string{"=", "<>", "<", "<=", ">", ">="} {
		for _, sel := range []string{"missing " + op + " 1", "1 " + op + " missing", "missing " + op + " other"} {
			if got := evalTri(t, sel, m, 1); got != U {
				t.Errorf("%q = %v, want U", sel, got)
			}
		}
	}
	// So is every arithmetic operator, which the comparison passes on.
	for _, op := range []string{"+", "-", "*", "/"} {
		for _, sel := range []string{"missing " + op + " 1 = 1", "1 " + op + " missing = 1"} {
			if got := evalTri(t, sel, m, 1); got != U {
				t.Errorf("%q = %v, want U", sel, got)
			}
		}
	}
}

func TestEmptySelectorMatchesEverything(t *testing.T) {
	for _, sel := range []string{"", "  ", "\t\r\n\f"} {
		s, err := Compile(sel)
		if err != nil {
			t.Fatalf("Compile(%q): %v", sel, err)
		}
		if !s.Match(bareMessage(), 1) || s.String() != "" {
			t.Errorf("Compile(%q) does not match everything or prints %q", sel, s.String())
		}
	}
	var nilSel *Selector
	if !nilSel.Match(bareMessage(), 1) || nilSel.String() != "" {
		t.Error("a nil Selector does not match everything")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	sels := []string{
		"color = 'red' AND weight > 2.5",
		"color IN ('blue', 'red') OR weight BETWEEN 1 AND 2",
		"color LIKE 'r%d' AND NOT flag AND JMSPriority >= 4 AND JMSDeliveryMode = 'PERSISTENT'",
		"weight * 2 + 1 > 3 AND missing IS NULL",
	}
	m := fullMessage("color=red", "weight=3.7", "flag=false")
	for _, sel := range sels {
		s, err := Compile(sel)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Match(m, 1) {
			t.Errorf("%q does not match", sel)
		}
		if n := testing.AllocsPerRun(100, func() { s.Match(m, 1) }); n != 0 {
			t.Errorf("%q: Match allocates %v times", sel, n)
		}
	}
}
