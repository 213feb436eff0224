package selector

import (
	"math"
	"strconv"
	"strings"
)

// vkind is the run-time type of a value.
type vkind uint8

const (
	// vNull is SQL's NULL, and also the unknown truth value: a condition
	// that is neither TRUE nor FALSE evaluates to it.
	vNull vkind = iota
	vBool
	vLong
	vDouble
	// vString is a typed string: a literal or a string header.
	vString
	// vText is a user property's text, whose type depends on the operand
	// it meets; see doc.go.
	vText
)

// value is the result of evaluating an expression. It is a small plain
// struct, returned by value, so evaluation allocates nothing; a boolean or a
// double lives in the bits of i, which keeps the struct at 32 bytes.
type value struct {
	k vkind
	i int64
	s string
}

// boolVal, longVal, doubleVal, stringVal and textVal make values of each
// kind; bool and double read the first and third back.
func boolVal(b bool) value {
	if b {
		return value{k: vBool, i: 1}
	}
	return value{k: vBool}
}
func longVal(i int64) value     { return value{k: vLong, i: i} }
func doubleVal(f float64) value { return value{k: vDouble, i: int64(math.Float64bits(f))} }
func stringVal(s string) value  { return value{k: vString, s: s} }
func textVal(s string) value    { return value{k: vText, s: s} }
func (v value) bool() bool      { return v.i != 0 }
func (v value) double() float64 { return math.Float64frombits(uint64(v.i)) }

// fromLong returns v as a double, applying Java's long-to-double promotion.
func fromLong(v value) float64 {
	if v.k == vLong {
		return float64(v.i)
	}
	return v.double()
}

// negate returns -v for a numeric v; long negation wraps as in Java.
func negate(v value) value {
	if v.k == vLong {
		return longVal(-v.i)
	}
	return doubleVal(-v.double())
}

// truth reads v as a truth value. known is false for NULL (unknown) and for
// property text that is neither true nor false.
func truth(v value) (b, known bool) {
	switch v.k {
	case vBool:
		return v.bool(), true
	case vText:
		return parseBool(v.s)
	}
	return false, false
}

// parseBool reads property text as a boolean, in any letter case, as Java's
// Boolean.parseBoolean does for "true".
func parseBool(s string) (b, ok bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// toNumber returns v as a long or double. Property text is parsed; NULL,
// strings, booleans and text that is not a number give ok == false.
func toNumber(v value) (value, bool) {
	switch v.k {
	case vLong, vDouble:
		return v, true
	case vText:
		return parseNumber(v.s)
	}
	return value{}, false
}

// parseNumber reads property text as a number: an optionally signed decimal
// integer is a long (or a double if it overflows a long); with a fraction or
// an exponent it is a double. The syntax is checked before strconv runs,
// because strconv accepts more (underscores, "Inf", hexadecimal floats) and
// allocates an error for every failure, which Match must not do.
func parseNumber(s string) (value, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	isFloat := false
	if i < len(s) && s[i] == '.' {
		isFloat = true
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return value{}, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isFloat = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == exp {
			return value{}, false
		}
	}
	if i != len(s) {
		return value{}, false
	}
	if !isFloat {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return longVal(n), true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && math.IsInf(f, 0) {
		// Out of range: too big to be a number the selector can compare.
		return value{}, false
	}
	return doubleVal(f), true
}

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

// cmpOpText spells each operator for String.
var cmpOpText = [...]string{opEq: "=", opNe: "<>", opLt: "<", opLe: "<=", opGt: ">", opGe: ">="}

// compare applies op to a and b with the JMS rules: NULL on either side is
// unknown; numbers compare after promotion to double when the types differ;
// strings and booleans only compare for equality; values of unlike types
// are unequal (FALSE, not unknown); property text takes the type of the
// other side, and text that cannot take it makes the comparison unknown.
func compare(op cmpOp, a, b value) value {
	if a.k == vNull || b.k == vNull {
		return value{}
	}
	if op == opEq || op == opNe {
		eq, known := equal(a, b)
		if !known {
			return value{}
		}
		return boolVal(eq == (op == opEq))
	}
	x, okA := toNumber(a)
	y, okB := toNumber(b)
	if !okA || !okB {
		if a.k == vText || b.k == vText {
			return value{}
		}
		return boolVal(false)
	}
	c, ordered := compareNumbers(x, y)
	if !ordered {
		// NaN is unordered: every ordering comparison is false, as in Java.
		return boolVal(false)
	}
	switch op {
	case opLt:
		return boolVal(c < 0)
	case opLe:
		return boolVal(c <= 0)
	case opGt:
		return boolVal(c > 0)
	}
	return boolVal(c >= 0)
}

// compareNumbers returns -1, 0 or 1. Two longs compare exactly; otherwise
// both are promoted to double. ordered is false if either is NaN.
func compareNumbers(x, y value) (c int, ordered bool) {
	if x.k == vLong && y.k == vLong {
		switch {
		case x.i < y.i:
			return -1, true
		case x.i > y.i:
			return 1, true
		}
		return 0, true
	}
	f, g := fromLong(x), fromLong(y)
	switch {
	case f < g:
		return -1, true
	case f > g:
		return 1, true
	case f == g:
		return 0, true
	}
	return 0, false
}

// equal decides a = b for non-NULL a and b. known is false when property
// text cannot be read as the type of the other side.
func equal(a, b value) (eq, known bool) {
	if b.k == vText && a.k != vText {
		a, b = b, a
	}
	if a.k == vText {
		switch b.k {
		case vString:
			return a.s == b.s, true
		case vLong, vDouble:
			x, ok := parseNumber(a.s)
			if !ok {
				return false, false
			}
			return numbersEqual(x, b), true
		case vBool:
			x, ok := parseBool(a.s)
			if !ok {
				return false, false
			}
			return x == b.bool(), true
		}
		// Two properties: equal as numbers if both are numbers, as
		// booleans if both are booleans, and otherwise as text.
		if x, ok := parseNumber(a.s); ok {
			if y, ok := parseNumber(b.s); ok {
				return numbersEqual(x, y), true
			}
		}
		if x, ok := parseBool(a.s); ok {
			if y, ok := parseBool(b.s); ok {
				return x == y, true
			}
		}
		return a.s == b.s, true
	}
	switch {
	case (a.k == vLong || a.k == vDouble) && (b.k == vLong || b.k == vDouble):
		return numbersEqual(a, b), true
	case a.k != b.k:
		return false, true
	case a.k == vString:
		return a.s == b.s, true
	}
	return a.bool() == b.bool(), true
}

// numbersEqual reports x = y for numbers; NaN equals nothing.
func numbersEqual(x, y value) bool {
	c, ordered := compareNumbers(x, y)
	return ordered && c == 0
}

// arith applies +, -, * or / with Java's numeric promotion: two longs give
// a long (wrapping on overflow), anything else a double. NULL, non-numeric
// text and division by zero give NULL rather than an error or a panic.
func arith(op byte, a, b value) value {
	x, okA := toNumber(a)
	y, okB := toNumber(b)
	if !okA || !okB {
		return value{}
	}
	if x.k == vLong && y.k == vLong {
		switch op {
		case '+':
			return longVal(x.i + y.i)
		case '-':
			return longVal(x.i - y.i)
		case '*':
			return longVal(x.i * y.i)
		}
		if y.i == 0 {
			return value{}
		}
		// Go defines MinInt64 / -1 as MinInt64, as Java does; no panic.
		return longVal(x.i / y.i)
	}
	f, g := fromLong(x), fromLong(y)
	switch op {
	case '+':
		return doubleVal(f + g)
	case '-':
		return doubleVal(f - g)
	case '*':
		return doubleVal(f * g)
	}
	if g == 0 {
		return value{}
	}
	return doubleVal(f / g)
}
