package client

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	ep := func(host string, port int, params ...string) Endpoint {
		e := Endpoint{Scheme: "tcp", Host: host, Port: port, Params: map[string]string{}}
		for i := 0; i+1 < len(params); i += 2 {
			e.Params[params[i]] = params[i+1]
		}
		return e
	}
	tests := []struct {
		name  string
		url   string
		eps   []Endpoint
		check func(t *testing.T, o URLOptions)
	}{
		{"single", "tcp://localhost:61616", []Endpoint{ep("localhost", 61616)}, func(t *testing.T, o URLOptions) {
			if o.Form != FormSingle || o.Failover() || o.ReconnectAttempts != 0 || o.InitialConnectAttempts != 1 {
				t.Errorf("single defaults: %+v", o)
			}
		}},
		{"default port", "tcp://broker", []Endpoint{ep("broker", DefaultPort)}, nil},
		{"trailing slash and spaces", "  tcp://broker:1/  ", []Endpoint{ep("broker", 1)}, nil},
		{"IPv6", "tcp://[::1]:61617", []Endpoint{ep("::1", 61617)}, nil},
		{"IPv6 default port", "tcp://[::1]", []Endpoint{ep("::1", DefaultPort)}, nil},
		{"upper-case scheme", "TCP://h:1", []Endpoint{ep("h", 1)}, nil},
		{"single with Artemis options", "tcp://h:1?ha=true&reconnectAttempts=-1&retryInterval=500",
			[]Endpoint{ep("h", 1, "ha", "true", "reconnectAttempts", "-1", "retryInterval", "500")},
			func(t *testing.T, o URLOptions) {
				if !o.HA || o.ReconnectAttempts != -1 || o.ReconnectDelay != 500*time.Millisecond || !o.Failover() {
					t.Errorf("options: %+v", o)
				}
			}},
		{"Classic failover", "failover:(tcp://localhost:61617,tcp://localhost:61616)",
			[]Endpoint{ep("localhost", 61617), ep("localhost", 61616)},
			func(t *testing.T, o URLOptions) {
				want := URLOptions{Form: FormFailover, Randomize: true, ReconnectAttempts: -1, InitialConnectAttempts: -1,
					ReconnectDelay: 10 * time.Millisecond, MaxReconnectDelay: 30 * time.Second, BackOffMultiplier: 2, Params: map[string]string{}}
				if !reflect.DeepEqual(o, want) || !o.Failover() {
					t.Errorf("Classic defaults:\n got %+v\nwant %+v", o, want)
				}
			}},
		{"Classic failover with options", "failover://(tcp://a:1,tcp://b:2)?randomize=false&initialReconnectDelay=100&maxReconnectDelay=5000&useExponentialBackOff=false&maxReconnectAttempts=3&startupMaxReconnectAttempts=2&timeout=3000&nested.x=y",
			[]Endpoint{ep("a", 1), ep("b", 2)},
			func(t *testing.T, o URLOptions) {
				if o.Randomize || o.ReconnectDelay != 100*time.Millisecond || o.MaxReconnectDelay != 5*time.Second ||
					o.BackOffMultiplier != 1 || o.ReconnectAttempts != 3 || o.InitialConnectAttempts != 3 ||
					o.SendTimeout != 3*time.Second || o.Params["nested.x"] != "y" {
					t.Errorf("options: %+v", o)
				}
			}},
		{"Classic failover without parentheses", "failover:tcp://a:1,tcp://b:2",
			[]Endpoint{ep("a", 1), ep("b", 2)}, nil},
		{"per-broker options", "failover:(tcp://a:1?keepAlive=true,tcp://b:2)?randomize=false",
			[]Endpoint{ep("a", 1, "keepAlive", "true"), ep("b", 2)}, nil},
		{"Artemis list", "(tcp://a:61616,tcp://b:61617)?ha=true&reconnectAttempts=-1&retryIntervalMultiplier=1.5&maxRetryInterval=10000&initialConnectAttempts=5",
			[]Endpoint{ep("a", 61616), ep("b", 61617)},
			func(t *testing.T, o URLOptions) {
				if o.Form != FormList || !o.HA || o.ReconnectAttempts != -1 || o.BackOffMultiplier != 1.5 ||
					o.MaxReconnectDelay != 10*time.Second || o.InitialConnectAttempts != 5 || o.Randomize {
					t.Errorf("options: %+v", o)
				}
			}},
		{"Artemis list defaults", "(tcp://a:1,tcp://b:2)", []Endpoint{ep("a", 1), ep("b", 2)},
			func(t *testing.T, o URLOptions) {
				if o.Failover() || o.ReconnectDelay != 2*time.Second || o.MaxReconnectDelay != 2*time.Second || o.BackOffMultiplier != 1 {
					t.Errorf("Artemis defaults: %+v", o)
				}
			}},
		{"escaped option value", "tcp://h:1?user=a%20b", []Endpoint{ep("h", 1, "user", "a b")}, nil},
		{"synonym schemes", "failover:(nio://a:1,stomp://b:2)", []Endpoint{
			{Scheme: "nio", Host: "a", Port: 1, Params: map[string]string{}},
			{Scheme: "stomp", Host: "b", Port: 2, Params: map[string]string{}},
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eps, opts, err := ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(eps, tc.eps) {
				t.Errorf("endpoints:\n got %+v\nwant %+v", eps, tc.eps)
			}
			if tc.check != nil {
				tc.check(t, opts)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct{ url, mention string }{
		{"", "empty"},
		{"localhost:61616", "no scheme; write tcp://localhost:61616"},
		{"tcp:/localhost:1", "needs two slashes; write tcp://localhost:1"},
		{"ssl:broker:61617", "needs two slashes; write ssl://broker:61617"},
		{"udp://h:1", `unknown scheme "udp"`},
		{"ssl://h:1?verifyHost=perhaps", `verifyHost="perhaps" must be true or false`},
		{"failover:(ssl://a:1)?trustAll=1x", `trustAll="1x"`},
		{"tcp://h:1?sslEnabled=true&certPath=c.pem", "certPath and keyPath go together"},
		{"tcp://:61616", "no host"},
		{"tcp://h:port", `port "port"`},
		{"tcp://h:0", `port "0"`},
		{"tcp://h:70000", `port "70000"`},
		{"tcp://h:", "port after the colon is missing"},
		{"tcp://h:1/path", "without a path"},
		{"tcp://user@h:1", "without a path or user"},
		{"tcp://::1", "cannot read host and port"},
		{"failover:(tcp://a:1", "no closing parenthesis"},
		{"failover:()", "list is empty"},
		{"failover:(tcp://a:1,)", "broker 2 of the list is empty"},
		{"(tcp://a:1)x", `unexpected "x"`},
		{"failover:(tcp://a:1,udp://b:2)", `"udp://b:2"`},
		{"tcp://h:1?ha", `option "ha" is not of the form`},
		{"tcp://h:1?=x", "not of the form"},
		{"tcp://h:1?a=%zz", "bad %-escape"},
		{"tcp://h:1?ha=maybe", `ha="maybe" must be true or false`},
		{"failover:(tcp://a:1)?maxReconnectAttempts=lots", "maxReconnectAttempts"},
		{"failover:(tcp://a:1)?maxReconnectAttempts=-5", "maxReconnectAttempts"},
		{"(tcp://a:1)?retryInterval=soon", "retryInterval"},
		{"(tcp://a:1)?retryIntervalMultiplier=0.5", "retryIntervalMultiplier"},
		{"failover:(tcp://a:1)?randomize=yes!", "randomize"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, _, err := ParseURL(tc.url)
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("ParseURL(%q) = %v, want ErrBadURL", tc.url, err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

// TestUnknownOptions checks which URL options are reported as having no
// effect: neither connection nor TLS options, on the URL or a broker.
func TestUnknownOptions(t *testing.T) {
	tests := []struct {
		url  string
		want []string
	}{
		{"tcp://h:1", nil},
		{"tcp://h:1?ha=true&trustAll=true", nil},
		{"tcp://h:1?foo=bar", []string{"foo"}},
		{"failover:(tcp://a:1?x=1,tcp://b:2)?maxReconectAttempts=3&randomize=false", []string{"maxReconectAttempts", "x"}},
		{"(tcp://a:1)?jms.prefetchPolicy.all=10", []string{"jms.prefetchPolicy.all"}},
	}
	for _, tc := range tests {
		eps, o, err := ParseURL(tc.url)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", tc.url, err)
		}
		if got := UnknownOptions(eps, o); !slices.Equal(got, tc.want) {
			t.Errorf("UnknownOptions(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestEndpointStrings(t *testing.T) {
	e := Endpoint{Scheme: "tcp", Host: "::1", Port: 5}
	if e.Addr() != "[::1]:5" || e.String() != "tcp://[::1]:5" {
		t.Errorf("Addr %q String %q", e.Addr(), e.String())
	}
}

func TestNormalizeDestination(t *testing.T) {
	tests := []struct{ in, want string }{
		{"queue://TEST", "/queue/TEST"},
		{"topic://news", "/topic/news"},
		{"QUEUE://x", "/queue/x"},
		{"temp-queue://t1", "/temp-queue/t1"},
		{"temp-topic://t2", "/temp-topic/t2"},
		{"/queue/TEST", "/queue/TEST"},
		{"/topic/news", "/topic/news"},
		{"/exchange/amq.direct", "/exchange/amq.direct"},
		{"TEST", "/queue/TEST"},
		{"test", "/queue/test"},
		{"orders.eu", "/queue/orders.eu"},
		{"queue://a/b", "/queue/a/b"},
	}
	for _, tc := range tests {
		got, err := NormalizeDestination(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeDestination(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "  ", "queue://", "jms://x"} {
		if _, err := NormalizeDestination(bad); !errors.Is(err, ErrBadDestination) {
			t.Errorf("NormalizeDestination(%q) = %v, want ErrBadDestination", bad, err)
		}
	}
}
