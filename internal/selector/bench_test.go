package selector

import (
	"strings"
	"testing"
)

// benchMatch compiles sel and matches it against m repeatedly, checking the
// expected answer once so that a broken benchmark does not look fast.
func benchMatch(b *testing.B, sel string, want bool, props ...string) {
	s, err := Compile(sel)
	if err != nil {
		b.Fatal(err)
	}
	m := fullMessage(props...)
	if got := s.Match(m, 1); got != want {
		b.Fatalf("%q matches %v, want %v", sel, got, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Match(m, 1)
	}
}

// The common case: a string property and a numeric one, among a handful of
// properties a STOMP client typically sends.
func BenchmarkMatch(b *testing.B) {
	benchMatch(b, "color = 'red' AND weight > 2.5", true,
		"persistent=true", "content-type=text/plain", "color=red", "weight=3.7", "region=emea")
}

func BenchmarkMatchMiss(b *testing.B) {
	benchMatch(b, "color = 'red' AND weight > 2.5", false,
		"persistent=true", "content-type=text/plain", "color=blue", "weight=3.7", "region=emea")
}

func BenchmarkMatchHeaders(b *testing.B) {
	benchMatch(b, "JMSPriority >= 4 AND JMSType = 'order' AND JMSDeliveryMode = 'PERSISTENT'", true)
}

func BenchmarkMatchIn(b *testing.B) {
	benchMatch(b, "region IN ('amer', 'apac', 'emea')", true, "region=emea")
}

func BenchmarkMatchInLarge(b *testing.B) {
	items := make([]string, 100)
	for i := range items {
		items[i] = "'r" + strings.Repeat("x", i) + "'"
	}
	benchMatch(b, "region IN ("+strings.Join(items, ", ")+")", false, "region=emea")
}

func BenchmarkMatchLike(b *testing.B) {
	benchMatch(b, "topic LIKE 'orders.%.eu_'", true, "topic=orders.created.eu1")
}

// A pattern that makes backtracking matchers exponential.
func BenchmarkMatchLikePathological(b *testing.B) {
	benchMatch(b, "c LIKE '"+strings.Repeat("%a", 20)+"%b'", true, "c="+strings.Repeat("a", 1000)+"b")
}

func BenchmarkMatchArithmetic(b *testing.B) {
	benchMatch(b, "price * quantity BETWEEN 100 AND 1000", true, "price=19.99", "quantity=10")
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("color = 'red' AND weight > 2.5 OR region IN ('amer', 'emea') AND topic LIKE 'orders.%'"); err != nil {
			b.Fatal(err)
		}
	}
}
