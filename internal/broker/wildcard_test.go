package broker

import (
	"testing"

	"tandem/internal/message"
	"tandem/internal/store/memstore"
)

func TestWildcardPatternMatch(t *testing.T) {
	cases := []struct {
		pattern, address string
		want             bool
	}{
		{"news.#", "news", true}, // '#' matches zero words
		{"news.#", "news.europe", true},
		{"news.#", "news.europe.sport", true},
		{"news.#", "newsroom", false},
		{"news.*", "news.europe", true},
		{"news.*", "news", false}, // '*' needs exactly one word
		{"news.*", "news.europe.sport", false},
		{"news.*.sport", "news.europe.sport", true},
		{"news.*.sport", "news.europe.sport.football", false},
		{"news.>", "news.europe.sport", true}, // ActiveMQ's '>' is '#'
		{"#", "anything.at.all", true},
		{"#.sport", "news.europe.sport", true},
		{"#.sport", "sport", true},
		{"news.#.sport", "news.sport", true},
		{"news.#.sport", "news.a.b.c.sport", true},
		{"news.#.sport", "news.a.b.c.weather", false},
		{"*.*", "a.b", true},
		{"*.*", "a", false},
	}
	for _, c := range cases {
		p, ok := parseWildcard(c.pattern)
		if !ok {
			t.Fatalf("%q not recognised as a wildcard", c.pattern)
		}
		if got := p.match(c.address); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.pattern, c.address, got, c.want)
		}
	}
	for _, literal := range []string{"news", "news.europe", "a#b", "x*.y", "orders>", ""} {
		if _, ok := parseWildcard(literal); ok {
			t.Errorf("%q taken for a wildcard; a '*', '#' or '>' inside a word is literal", literal)
		}
	}
}

func topicMsg(addr, body string) *message.Message {
	m := msg(addr, body)
	m.RoutingType = message.Multicast
	return m
}

func TestWildcardSubscriptionReceivesEveryMatchingAddress(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	send(t, s, topicMsg("news.europe", "existing-address")) // address exists before the subscription
	_, all := subscribe(t, s, SubscribeOptions{Address: "news.#", RoutingType: message.Multicast})
	_, one := subscribe(t, s, SubscribeOptions{Address: "news.*", RoutingType: message.Multicast})
	_, gt := subscribe(t, s, SubscribeOptions{Address: "news.>", RoutingType: message.Multicast})
	_, exact := subscribe(t, s, SubscribeOptions{Address: "news.europe", RoutingType: message.Multicast})

	send(t, s, topicMsg("news.europe", "eu"))       // existing address
	send(t, s, topicMsg("news.asia.japan", "jp"))   // created after the subscriptions
	send(t, s, topicMsg("news", "bare"))            // '#' matches zero words
	send(t, s, topicMsg("weather.europe", "other")) // matches nothing
	send(t, s, msg("news.queue", "anycast"))        // anycast never reaches topic subscriptions

	equal(t, bodies(all.wait(t, 3)), []string{"eu", "jp", "bare"})
	equal(t, bodies(one.wait(t, 1)), []string{"eu"})
	equal(t, bodies(gt.wait(t, 3)), []string{"eu", "jp", "bare"})
	equal(t, bodies(exact.wait(t, 1)), []string{"eu"})
	b.ScanExpired() // a round trip through every queue lock, so late deliveries would show
	for name, k := range map[string]*sink{"news.#": all, "news.*": one, "news.>": gt, "news.europe": exact} {
		if n := k.count(); n != map[string]int{"news.#": 3, "news.*": 1, "news.>": 3, "news.europe": 1}[name] {
			t.Errorf("%s got %d messages", name, n)
		}
	}
}

func TestDurableWildcardSubscriptionSurvivesRestart(t *testing.T) {
	st := memstore.New()
	b := startBroker(t, st, Options{})
	s := session(t, b, "app")
	c, _ := subscribe(t, s, SubscribeOptions{Address: "orders.*.created", RoutingType: message.Multicast, DurableName: "created", AckMode: AckIndividual})
	s.Unsubscribe(c)
	send(t, s, topicMsg("orders.eu.created", "while-away"))

	b = restart(t, b, st, Options{})
	s = session(t, b, "app")
	send(t, s, topicMsg("orders.us.created", "after-restart")) // new address, matched by the recovered index
	send(t, s, topicMsg("orders.us.deleted", "not-matching"))
	_, k := subscribe(t, s, SubscribeOptions{Address: "orders.*.created", RoutingType: message.Multicast, DurableName: "created"})
	equal(t, bodies(k.wait(t, 2)), []string{"while-away", "after-restart"})
}

// TestEscapedDotIsPartOfAWord routes the addresses MQTT topics with a '.'
// map to ("v1.2/x" is "v1\.2.x"): the escaped dot is not a word separator,
// so a two-word pattern matches them and a three-word one does not, while
// unescaped addresses route as before.
func TestEscapedDotIsPartOfAWord(t *testing.T) {
	b := startBroker(t, memstore.New(), Options{})
	s := session(t, b, "")
	_, two := subscribe(t, s, SubscribeOptions{Address: `*.x`, RoutingType: message.Multicast})
	_, three := subscribe(t, s, SubscribeOptions{Address: `*.*.x`, RoutingType: message.Multicast})
	_, prefix := subscribe(t, s, SubscribeOptions{Address: `v1\.2.#`, RoutingType: message.Multicast})

	send(t, s, topicMsg(`v1\.2.x`, "escaped"))
	send(t, s, topicMsg(`v1.2.x`, "plain"))

	equal(t, bodies(two.wait(t, 1)), []string{"escaped"})
	equal(t, bodies(three.wait(t, 1)), []string{"plain"})
	equal(t, bodies(prefix.wait(t, 1)), []string{"escaped"})
	b.ScanExpired()
	if two.count() != 1 || three.count() != 1 || prefix.count() != 1 {
		t.Errorf("deliveries: *.x %d, *.*.x %d, v1\\.2.# %d; want 1 each", two.count(), three.count(), prefix.count())
	}
}
