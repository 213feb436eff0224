package client

import (
	"errors"
	"testing"
)

// FuzzParseURL feeds arbitrary text to ParseURL: it must never panic, must
// fail only with ErrBadURL, and what it accepts must be usable: at least
// one broker, each with a host and a port in range.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"tcp://localhost:61616", "failover:(tcp://a:1,tcp://b:2)?randomize=false&maxReconnectAttempts=3",
		"(tcp://a:1,tcp://b:2)?ha=true&reconnectAttempts=-1", "ssl://h:61617?trustStorePath=/ca.pem&verifyHost=false",
		"tcp://[::1]:1?sslEnabled=true&certPath=c&keyPath=k", "failover:tcp://a,tcp://b", "stomp+ssl://h",
		"tcp://h:1?a=%zz", "(", "failover:(", "tcp://:", "tcp://h:99999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eps, _, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("ParseURL(%q) failed with %v, which does not wrap ErrBadURL", s, err)
			}
			return
		}
		if len(eps) == 0 {
			t.Fatalf("ParseURL(%q) accepted a URL without brokers", s)
		}
		for _, ep := range eps {
			if ep.Host == "" || ep.Port < 1 || ep.Port > 65535 {
				t.Fatalf("ParseURL(%q) accepted broker %+v", s, ep)
			}
			if _, _, err := ParseURL(ep.String()); err != nil {
				t.Fatalf("broker %s of %q does not parse back: %v", ep, s, err)
			}
		}
	})
}
