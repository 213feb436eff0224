package mqtt

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckTopicName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"/", true},
		{"a//b", true},
		{"$SYS/broker", true},
		{"sport/tennis/player1", true},
		{"Accounts payable", true},
		{"emoji/\U0001F600", true},
		{"bom/\uFEFF", true},
		{"", false},
		{"a/+", false},
		{"a/#", false},
		{"a+b", false},
		{"a\x00b", false},
		{"a\xffb", false},
		{strings.Repeat("a", 65536), false},
	}
	for _, tc := range tests {
		err := CheckTopicName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTopicName(%.20q) = %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			if code, _ := ReasonFor(err); code != TopicNameInvalid {
				t.Errorf("CheckTopicName(%.20q) reason %v", tc.name, code)
			}
		}
	}
}

func TestCheckTopicFilter(t *testing.T) {
	tests := []struct {
		filter string
		ok     bool
	}{
		// The examples of section 4.7.
		{"sport/tennis/player1/#", true},
		{"sport/#", true},
		{"#", true},
		{"sport/tennis/#", true},
		{"sport/tennis#", false},
		{"sport/tennis/#/ranking", false},
		{"+", true},
		{"+/tennis/#", true},
		{"sport+", false},
		{"sport/+/player1", true},
		{"/+", true},
		{"+/+", true},
		{"/", true},
		{"//", true},
		{"", false},
		{"a/b+/c", false},
		{"##", false},
		{"a\x00", false},
		// Shared subscriptions (section 4.8.2).
		{"$share/consumer1/sport/tennis/+", true},
		{"$share/consumer1//finance", true},
		{"$share/g/#", true},
		{"$share/g/", false},
		{"$share/g", false},
		{"$share//a", false},
		{"$share/g+/a", false},
		{"$share/g#/a", false},
		{"$share/g/a#", false},
		{"$shared/g/a", true}, // not the prefix: an ordinary filter
		{"$SYS/#", true},
	}
	for _, tc := range tests {
		err := CheckTopicFilter(tc.filter)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTopicFilter(%q) = %v", tc.filter, err)
		}
		if err != nil {
			if code, _ := ReasonFor(err); code != TopicFilterInvalid {
				t.Errorf("CheckTopicFilter(%q) reason %v", tc.filter, code)
			}
		}
	}
}

func TestSplitShared(t *testing.T) {
	tests := []struct {
		in, share, filter string
		ok                bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/g//f", "g", "/f", true},
		{"$share/g", "", "", false},
		{"a/b", "", "", false},
	}
	for _, tc := range tests {
		s, f, ok := SplitShared(tc.in)
		if s != tc.share || f != tc.filter || ok != tc.ok {
			t.Errorf("SplitShared(%q) = %q, %q, %v", tc.in, s, f, ok)
		}
	}
}

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		// The examples of section 4.7.
		{"sport/tennis/player1/#", "sport/tennis/player1", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
		{"sport/#", "sport", true},
		{"#", "anything/at/all", true},
		{"sport/tennis/+", "sport/tennis/player1", true},
		{"sport/tennis/+", "sport/tennis/player1/ranking", false},
		{"sport/+", "sport", false},
		{"sport/+", "sport/", true},
		{"+/+", "/finance", true},
		{"/+", "/finance", true},
		{"+", "/finance", false},
		// Topics starting with '$'.
		{"#", "$SYS/monitor/Clients", false},
		{"+/monitor/Clients", "$SYS/monitor/Clients", false},
		{"$SYS/#", "$SYS/monitor/Clients", true},
		{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
		{"$share/g/#", "$SYS/x", false},
		// Exact and near misses.
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+/c", "a//c", true},
		{"a/#", "a/", true},
		{"A", "a", false},
		{"$share/g/a/+", "a/b", true},
		{"$share/g/a/+", "a/b/c", false},
	}
	for _, tc := range tests {
		if got := MatchTopic(tc.filter, tc.topic); got != tc.want {
			t.Errorf("MatchTopic(%q, %q) = %v", tc.filter, tc.topic, got)
		}
	}
}

// TestMatchTopicAgreesWithAddresses checks that MQTT matching and the
// broker's wildcard matching on mapped addresses agree, for topics and
// filters without '.', '*' or '\' (which the mapping escapes). The word
// matcher here follows internal/wildcard: '*' one word, '#' zero or more.
func TestMatchTopicAgreesWithAddresses(t *testing.T) {
	filters := []string{"#", "+", "a/#", "a/+", "+/b", "a/+/c", "+/+", "a/b", "/+", "a/#", "+/#"}
	topics := []string{"a", "a/b", "a/b/c", "/b", "a/", "b", "a//c", "x/b", "a/x/c"}
	for _, f := range filters {
		for _, tp := range topics {
			want := MatchTopic(f, tp)
			got := wordsMatch(strings.Split(TopicToAddress(f), "."), strings.Split(TopicToAddress(tp), "."))
			if got != want {
				t.Errorf("filter %q topic %q: MQTT %v, addresses %q %q %v", f, tp, want, TopicToAddress(f), TopicToAddress(tp), got)
			}
		}
	}
}

func wordsMatch(pattern, words []string) bool {
	if len(pattern) == 0 {
		return len(words) == 0
	}
	switch pattern[0] {
	case "#":
		for i := 0; i <= len(words); i++ {
			if wordsMatch(pattern[1:], words[i:]) {
				return true
			}
		}
		return false
	case "*":
		return len(words) > 0 && wordsMatch(pattern[1:], words[1:])
	}
	return len(words) > 0 && words[0] == pattern[0] && wordsMatch(pattern[1:], words[1:])
}
