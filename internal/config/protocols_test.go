package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAcceptorProtocols(t *testing.T) {
	cases := []struct {
		options     map[string]string
		serve       []string
		unsupported []string
	}{
		{nil, SpokenProtocols, nil},
		{map[string]string{"protocols": ""}, SpokenProtocols, nil},
		{map[string]string{"protocols": "stomp"}, []string{"STOMP"}, nil},
		{map[string]string{"protocols": "CORE, STOMP,HORNETQ,STOMP"}, []string{"STOMP"}, []string{"CORE", "HORNETQ"}},
	}
	for _, tc := range cases {
		serve, unsupported := Acceptor{Options: tc.options}.Protocols()
		if !slices.Equal(serve, tc.serve) || !slices.Equal(unsupported, tc.unsupported) {
			t.Errorf("protocols %v: serve %v, unsupported %v; want %v, %v", tc.options, serve, unsupported, tc.serve, tc.unsupported)
		}
	}
}

func TestAcceptorProtocolsValidation(t *testing.T) {
	cases := []struct {
		protocols string
		want      string // "" means valid
	}{
		{"STOMP", ""},
		{"CORE,STOMP", ""},
		{"STOPM", `"STOPM" is not a protocol`},
		{"CORE,HORNETQ", "tandem speaks none of CORE, HORNETQ"},
	}
	for _, tc := range cases {
		c := Default()
		c.Acceptors = []Acceptor{{Name: "a", URL: "tcp://0.0.0.0:61616?protocols=" + tc.protocols,
			Options: map[string]string{"protocols": tc.protocols}}}
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("protocols=%s: %v", tc.protocols, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("protocols=%s: %v, want an error saying %q", tc.protocols, err, tc.want)
		}
	}
}

func TestWebSocketAllowedOrigins(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"websocket-allowed-origins: [app.example.com, '*.example.org']\n", []string{"app.example.com", "*.example.org"}},
		{"websocket-allowed-origins: \"*\"\n", []string{"*"}},
		{"name: x\n", nil},
	} {
		c, err := Parse([]byte(tc.yaml), "b.yaml", "/inst")
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if !slices.Equal(c.WebSocketAllowedOrigins, tc.want) {
			t.Errorf("%q: %v, want %v", tc.yaml, c.WebSocketAllowedOrigins, tc.want)
		}
		// What create writes back reads the same.
		text, err := Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(text, "b.yaml", "/inst")
		if err != nil || !slices.Equal(back.WebSocketAllowedOrigins, tc.want) {
			t.Errorf("%q after marshal: %v, %v", tc.yaml, back.WebSocketAllowedOrigins, err)
		}
	}
}
