package wstransport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tandem/internal/listener"
)

// echo is a protocol adapter that answers every line with its upper case,
// and reports a read timeout as "timeout".
type echo struct{ name string }

func (e echo) Name() string      { return e.name }
func (e echo) Detect([]byte) int { return listener.NoMatch }
func (e echo) Serve(ctx context.Context, nc net.Conn) {
	r := bufio.NewReader(nc)
	for {
		_ = nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		line, err := r.ReadString('\n')
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			nc.Write([]byte("timeout\n"))
			return
		}
		if err != nil {
			return
		}
		if _, err := nc.Write([]byte(e.name + ":" + strings.ToUpper(line))); err != nil {
			return
		}
	}
}

// serveWS runs a listener with the transport on a free port.
func serveWS(t *testing.T, opts Options) string {
	t.Helper()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(nl, listener.Options{Protocols: []listener.Protocol{New(opts)}, HandshakeTimeout: 5 * time.Second})
	go l.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
	})
	return nl.Addr().String()
}

func adapters() map[string]listener.Protocol {
	return map[string]listener.Protocol{"STOMP": echo{"stomp"}, "MQTT": echo{"mqtt"}}
}

func dial(t *testing.T, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, url, opts)
}

func roundTrip(t *testing.T, c *websocket.Conn, typ websocket.MessageType, send string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, []byte(send)); err != nil {
		t.Fatal(err)
	}
	_, p, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

func TestSubprotocolChoosesTheAdapter(t *testing.T) {
	addr := serveWS(t, Options{Adapters: adapters()})
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{[]string{"v12.stomp"}, "stomp:HI\n"},
		{[]string{"v10.stomp", "v11.stomp", "v12.stomp"}, "stomp:HI\n"},
		{[]string{"mqtt"}, "mqtt:HI\n"},
		{[]string{"mqttv3.1"}, "mqtt:HI\n"},
		{[]string{"wamp", "mqtt"}, "mqtt:HI\n"},
	} {
		c, _, err := dial(t, "ws://"+addr+"/any/path", &websocket.DialOptions{Subprotocols: tc.offer})
		if err != nil {
			t.Fatalf("offering %v: %v", tc.offer, err)
		}
		// Text from a STOMP page and binary from an MQTT client both read.
		if got := roundTrip(t, c, websocket.MessageText, "hi\n"); got != tc.want {
			t.Errorf("offering %v: got %q, want %q", tc.offer, got, tc.want)
		}
		if got := roundTrip(t, c, websocket.MessageBinary, "hi\n"); got != tc.want {
			t.Errorf("offering %v (binary): got %q, want %q", tc.offer, got, tc.want)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}

func TestStompIsSentAsTextAndMQTTAsBinary(t *testing.T) {
	addr := serveWS(t, Options{Adapters: adapters()})
	for _, tc := range []struct {
		offer string
		want  websocket.MessageType
	}{{"v12.stomp", websocket.MessageText}, {"mqtt", websocket.MessageBinary}} {
		c, _, err := dial(t, "ws://"+addr+"/", &websocket.DialOptions{Subprotocols: []string{tc.offer}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.Write(ctx, websocket.MessageText, []byte("x\n"))
		typ, _, err := c.Read(ctx)
		cancel()
		if err != nil || typ != tc.want {
			t.Errorf("%s: message type %v, %v; want %v", tc.offer, typ, err, tc.want)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}

func TestRefusals(t *testing.T) {
	addr := serveWS(t, Options{Adapters: map[string]listener.Protocol{"STOMP": echo{"stomp"}}})
	cases := []struct {
		name   string
		opts   *websocket.DialOptions
		status int
	}{
		{"no subprotocol", &websocket.DialOptions{}, http.StatusBadRequest},
		{"a subprotocol this acceptor does not serve", &websocket.DialOptions{Subprotocols: []string{"mqtt"}}, http.StatusBadRequest},
		{"a foreign origin", &websocket.DialOptions{Subprotocols: []string{"v12.stomp"},
			HTTPHeader: http.Header{"Origin": {"https://evil.example"}}}, http.StatusForbidden},
	}
	for _, tc := range cases {
		_, resp, err := dial(t, "ws://"+addr+"/", tc.opts)
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			t.Errorf("%s: err %v, status %d; want a refusal with %d", tc.name, err, code, tc.status)
		}
	}
}

func TestAllowedOrigins(t *testing.T) {
	addr := serveWS(t, Options{Adapters: adapters(), AllowedOrigins: []string{"*.example.com"}})
	c, _, err := dial(t, "ws://"+addr+"/", &websocket.DialOptions{Subprotocols: []string{"mqtt"},
		HTTPHeader: http.Header{"Origin": {"https://app.example.com"}}})
	if err != nil {
		t.Fatalf("an allowed origin was refused: %v", err)
	}
	c.Close(websocket.StatusNormalClosure, "")
	if _, _, err := dial(t, "ws://"+addr+"/", &websocket.DialOptions{Subprotocols: []string{"mqtt"},
		HTTPHeader: http.Header{"Origin": {"https://example.org"}}}); err == nil {
		t.Fatal("an origin outside the patterns was admitted")
	}
	any := serveWS(t, Options{Adapters: adapters(), AllowedOrigins: []string{"*"}})
	c, _, err = dial(t, "ws://"+any+"/", &websocket.DialOptions{Subprotocols: []string{"mqtt"},
		HTTPHeader: http.Header{"Origin": {"https://anything.test"}}})
	if err != nil {
		t.Fatalf("\"*\" refused an origin: %v", err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func TestPlainHTTPGetsAnExplanation(t *testing.T) {
	addr := serveWS(t, Options{Adapters: adapters()})
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "messaging port") {
		t.Fatalf("plain GET: %d %q", resp.StatusCode, body)
	}
}

func TestReadDeadlineIsATimeout(t *testing.T) {
	addr := serveWS(t, Options{Adapters: adapters()})
	c, _, err := dial(t, "ws://"+addr+"/", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, p, err := c.Read(ctx) // the echo adapter's deadline passes
	if err != nil || string(p) != "timeout\n" {
		t.Fatalf("after the adapter's read deadline: %q, %v", p, err)
	}
}

func TestServeHTTPEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tr := New(Options{Adapters: adapters(), Context: ctx})
	srv := &http.Server{Handler: tr}
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(nl)
	defer srv.Close()
	c, _, err := dial(t, "ws://"+nl.Addr().String()+"/stomp", &websocket.DialOptions{Subprotocols: []string{"v12.stomp"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, websocket.MessageText, "a\n"); got != "stomp:A\n" {
		t.Fatalf("got %q", got)
	}
	cancel()
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if _, _, err := c.Read(rctx); err == nil || errors.Is(rctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("the connection outlived the transport's context: %v", err)
	}
}
