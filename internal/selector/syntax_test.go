package selector

import (
	"errors"
	"strings"
	"testing"
)

// syntaxCases lists rejected selectors with the byte offset the error must
// point at and a fragment of its message.
var syntaxCases = []struct {
	sel  string
	pos  int
	want string
}{
	// Incomplete and misplaced tokens.
	{"color = ", 8, "expected a value after '='"},
	{"color =", 7, "expected a value after '='"},
	{"= 'a'", 0, "expected a value, found '='"},
	{"color == 'red'", 7, "expected a value after '=', found '='"},
	{"a = 1 AND", 9, "expected a value after 'AND'"},
	{"a = 1 or", 8, "expected a value after 'or'"},
	{"a = 1 AND AND b = 1", 10, "found 'AND'"},
	{"NOT", 3, "expected a value after 'NOT'"},
	{"a = (1 + ) ", 9, "expected a value after '+', found ')'"},
	{"(a = 1", 6, "expected ')' to close the '(' at position 0"},
	{"((a = 1)", 8, "expected ')' to close the '(' at position 0"},
	{"a = 1)", 5, "unbalanced ')'"},
	{"a = 1 b", 6, "unexpected 'b'"},
	{"a = b = c", 6, "unexpected '='"},
	{"a IS NULL IS NULL", 10, "unexpected 'IS'"},
	{"a = NULL", 4, "NULL may only follow IS"},
	{"NULL IS NULL", 0, "NULL may only follow IS"},

	// Lexical errors.
	{"color = 'red", 8, "unterminated string literal"},
	{"color = 'it''s", 8, "unterminated string literal"},
	{"color != 'red'", 6, "<>"},
	{"color = \"red\"", 8, "single quotes"},
	{"a # 1", 2, "unexpected character '#'"},
	{"a = 'x' ; b", 8, "unexpected character ';'"},
	{"12abc = 1", 0, "malformed number"},
	{"a = 1e", 4, "malformed exponent"},
	{"a = 1e+", 4, "malformed exponent"},
	{"a = 1.5L", 4, "malformed number"},
	{"a = 1.2.3", 4, "malformed number"},
	{"a = 08", 4, "malformed octal"},
	{"a = 0x", 4, "malformed hexadecimal"},
	{"a = 0xG", 4, "malformed hexadecimal"},
	{"a = 9223372036854775808", 4, "out of range"},
	{"a = -(9223372036854775808)", 6, "out of range"},
	{"a = 99999999999999999999", 4, "out of range"},
	{"a = 0x10000000000000000", 4, "out of range"},
	{"a = 02000000000000000000000", 4, "out of range"},
	{"a = 1e999", 4, "out of range"},
	{"a = '\xff'", 5, "invalid UTF-8"},

	// Predicates.
	{"a NOT 1", 6, "expected BETWEEN, IN or LIKE after NOT"},
	{"a BETWEEN 1", 11, "expected AND in BETWEEN"},
	{"a BETWEEN 1 OR 2", 12, "expected AND in BETWEEN"},
	{"a IN 'x'", 5, "expected '(' after IN"},
	{"a IN ()", 6, "expected a string literal in the IN list"},
	{"a IN ('x' 'y')", 10, "expected ',' or ')'"},
	{"a IN (1, 2)", 6, "expected a string literal in the IN list"},
	{"a IN ('x',)", 10, "expected a string literal in the IN list"},
	{"a IN ('x', b)", 11, "expected a string literal in the IN list"},
	{"a LIKE b", 7, "expected a string literal pattern"},
	{"a LIKE 'x' ESCAPE 'ab'", 18, "exactly one character"},
	{"a LIKE 'x' ESCAPE ''", 18, "exactly one character"},
	{"a LIKE 'x' ESCAPE c", 18, "expected a string literal after ESCAPE"},
	{"a LIKE 'x!' ESCAPE '!'", 7, "ends with its escape character"},
	{"a IS 1", 5, "expected NULL after IS"},
	{"a IS NOT", 8, "expected NULL after IS"},

	// Types.
	{"1 + 2", 0, "expected a condition, found a number"},
	{"JMSPriority", 0, "expected a condition, found a number"},
	{"'a'", 0, "expected a condition, found a string"},
	{"JMSType", 0, "expected a condition, found a string"},
	{"a = 1 AND 2", 10, "expected a condition, found a number"},
	{"'x' OR a", 0, "expected a condition, found a string"},
	{"NOT 5", 4, "expected a condition, found a number"},
	{"NOT (1 + 2)", 4, "expected a condition, found a number"},
	{"'a' + 1 = 2", 0, "expected a number, found a string"},
	{"a + TRUE = 1", 4, "expected a number, found a condition"},
	{"a = -'x'", 5, "expected a number, found a string"},
	{"a = -(b = 1)", 5, "expected a number, found a condition"},
	{"'a' < 'b'", 0, "strings can only be compared with = and <>"},
	{"a < 'b'", 4, "strings can only be compared with = and <>"},
	{"JMSType > 1", 0, "strings can only be compared with = and <>"},
	{"TRUE < 1", 0, "conditions can only be compared with = and <>"},
	{"a >= (b = 1)", 5, "conditions can only be compared with = and <>"},
	{"JMSPriority IN ('a')", 0, "IN needs a string on its left, found a number"},
	{"(a = 1) IN ('a')", 0, "IN needs a string on its left, found a condition"},
	{"1 LIKE 'a'", 0, "LIKE needs a string on its left, found a number"},
	{"'a' BETWEEN 1 AND 2", 0, "expected a number, found a string"},
	{"a BETWEEN 'x' AND 2", 10, "expected a number, found a string"},
	{"a BETWEEN 1 AND JMSType", 16, "expected a number, found a string"},
}

func TestSyntaxErrors(t *testing.T) {
	for _, c := range syntaxCases {
		s, err := Compile(c.sel)
		if err == nil {
			t.Errorf("Compile(%q) = %q, want an error", c.sel, s)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Errorf("Compile(%q): %v is not a *SyntaxError wrapping ErrSyntax", c.sel, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.want) {
			t.Errorf("Compile(%q): at %d: %q; want at %d: %q", c.sel, se.Pos, se.Msg, c.pos, c.want)
		}
	}
}

func TestSyntaxErrorText(t *testing.T) {
	_, err := Compile("color = ")
	want := `selector: at position 8: expected a value after '=' in "color = "`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	var se *SyntaxError
	errors.As(err, &se)
	if got := se.Caret(); got != "color = \n        ^" {
		t.Errorf("Caret() = %q", got)
	}

	// A long selector is quoted around the position only.
	long := "a = 1 AND " + strings.Repeat("b = 2 AND ", 20) + "c = = 3"
	_, err = Compile(long)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, `in "...`) || !strings.Contains(msg, `c = = 3"`) || len(msg) > 160 {
		t.Errorf("long selector error = %q", msg)
	}
	errors.As(err, &se)
	lines := strings.Split(se.Caret(), "\n")
	if len(lines) != 2 || lines[0][len(lines[1])-1] != '=' {
		t.Errorf("Caret() = %q does not point at the second '='", se.Caret())
	}
}

func TestLimits(t *testing.T) {
	check := func(name, sel string, ok bool, pos int, msg string) {
		t.Helper()
		_, err := Compile(sel)
		if ok {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			return
		}
		var se *SyntaxError
		if !errors.As(err, &se) || se.Pos != pos || !strings.Contains(se.Msg, msg) {
			t.Errorf("%s: error %v, want %q at %d", name, err, msg, pos)
		}
	}
	const deep = "selector nests too deeply"
	parens := func(n int) string { return strings.Repeat("(", n) + "a" + strings.Repeat(")", n) }
	check("parentheses at the limit", parens(MaxDepth), true, 0, "")
	check("parentheses over the limit", parens(MaxDepth+1), false, MaxDepth, deep)
	check("parentheses far over the limit", parens(30000), false, MaxDepth, deep)
	check("NOT chain", strings.Repeat("NOT ", 200)+"a", true, 0, "")
	check("long NOT chain", strings.Repeat("NOT ", 300)+"a", false, 4*MaxDepth, deep)
	check("sign chain", strings.Repeat("-", 300)+"a = 1", false, MaxDepth, deep)
	check("arithmetic chain", "a"+strings.Repeat(" + a", 200)+" = 1", true, 0, "")
	check("long arithmetic chain", "a"+strings.Repeat(" + a", 300)+" = 1", false, 4*MaxDepth-2, deep)
	check("long AND chain", "a = 1"+strings.Repeat(" AND a = 1", 5000), true, 0, "")
	check("long OR chain", "a = 1"+strings.Repeat(" OR a = 1", 5000), true, 0, "")
	check("long IN list", "a IN ('x'"+strings.Repeat(", 'x'", 5000)+")", true, 0, "")
	check("length at the limit", strings.Repeat(" ", MaxLength-1)+"a", true, 0, "")
	check("length over the limit", strings.Repeat(" ", MaxLength)+"a", false, MaxLength, "longer than")
}

// stringCases maps selectors to their canonical form.
var stringCases = []struct{ in, want string }{
	{"color='red' and weight>2.5", "color = 'red' AND weight > 2.5"},
	{"(a = 1 OR b = 2) AND c = 3", "(a = 1 OR b = 2) AND c = 3"},
	{"a = 1 OR (b = 2 AND c = 3)", "a = 1 OR b = 2 AND c = 3"},
	{"(a = 1 AND b = 2) AND (c = 3 AND d = 4)", "a = 1 AND b = 2 AND c = 3 AND d = 4"},
	{"(a = 1 OR b = 2) OR c = 3", "a = 1 OR b = 2 OR c = 3"},
	{"a - (b - c) = 1", "a - (b - c) = 1"},
	{"(a - b) - c = 1", "a - b - c = 1"},
	{"a * (b + c) = 1", "a * (b + c) = 1"},
	{"a / (b * c) = 1", "a / (b * c) = 1"},
	{"(a * b) + c = 1", "a * b + c = 1"},
	{"NOT (a = 1)", "NOT a = 1"},
	{"NOT (a = 1 AND b = 2)", "NOT (a = 1 AND b = 2)"},
	{"not not flag", "NOT NOT flag"},
	{"(NOT a) = TRUE", "(NOT a) = TRUE"},
	{"n = 0x1F", "n = 31"},
	{"n = 017", "n = 15"},
	{"n = 1e3", "n = 1000.0"},
	{"n = 1e21", "n = 1e+21"},
	{"n = .5", "n = 0.5"},
	{"n = 5.", "n = 5.0"},
	{"n = 10L", "n = 10"},
	{"n = 2.5f", "n = 2.5"},
	{"n = 2d", "n = 2.0"},
	{"n = -(5)", "n = -5"},
	{"n = - -5", "n = 5"},
	{"n = -0.0", "n = -0.0"},
	{"n = +5", "n = 5"},
	{"n = +a", "n = +a"},
	{"n = +(a + 1)", "n = a + 1"},
	{"-n = 1", "-n = 1"},
	{"-(a + b) = 1", "-(a + b) = 1"},
	{"- -a = 1", "--a = 1"},
	{"a - -5 = 1", "a - -5 = 1"},
	{"-9223372036854775808 = n", "-9223372036854775808 = n"},
	{"c = 'it''s'", "c = 'it''s'"},
	{"c not in ('a','b')", "c NOT IN ('a', 'b')"},
	{"c in ('it''s')", "c IN ('it''s')"},
	{"c like 'a!%' escape '!'", "c LIKE 'a!%' ESCAPE '!'"},
	{"c LIKE 'it''s%'", "c LIKE 'it''s%'"},
	{"c is not null", "c IS NOT NULL"},
	{"(a = 1) is null", "(a = 1) IS NULL"},
	{"n not between 1 and 2", "n NOT BETWEEN 1 AND 2"},
	{"n between 1 + 1 and (2)", "n BETWEEN 1 + 1 AND 2"},
	{"n between 1 and 2 and c = 'x'", "n BETWEEN 1 AND 2 AND c = 'x'"},
	{"flag", "flag"},
	{"((flag))", "flag"},
	{"true", "TRUE"},
	{"JMSPriority > 4 and AMQDurable = 'DURABLE'", "JMSPriority > 4 AND AMQDurable = 'DURABLE'"},
	{"AMQPriority > 4 or AMQTimestamp < JMSTimestamp", "AMQPriority > 4 OR AMQTimestamp < JMSTimestamp"},
	{"(a > 1) = (b > 2)", "(a > 1) = (b > 2)"},
}

func TestString(t *testing.T) {
	for _, c := range stringCases {
		s, err := Compile(c.in)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.in, err)
			continue
		}
		if got := s.String(); got != c.want {
			t.Errorf("Compile(%q).String() = %q, want %q", c.in, got, c.want)
			continue
		}
		again, err := Compile(s.String())
		if err != nil || again.String() != c.want {
			t.Errorf("String() of %q does not compile back to itself: %v %v", c.in, again, err)
		}
	}
	// Every selector of the specification table prints to a form that
	// compiles back to the same form and the same answers.
	for _, c := range specCases {
		checkRoundTrip(t, c.sel, []*messageCase{{fullMessage(c.props...), testDeliveryCount}})
	}
}
