package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/client"
)

// securedBroker is a broker that requires login, with users of distinct
// roles and security-settings that give each role one kind of access to
// the orders.# addresses (the admin keeps everything through "#").
func securedBroker(t *testing.T) instance {
	t.Helper()
	in := create(t, "secured", "--require-login")
	for _, u := range [][3]string{
		{"writer", "w-pass", "writer"}, {"reader", "r-pass", "reader"}, {"auditor", "a-pass", "auditor"},
		{"sender", "s-pass", "sender"}, {"guest", "g-pass", "guest"},
	} {
		mustTandem(t, "user", "add", "--instance", in.dir, "--user", u[0], "--password", u[1], "--role", u[2])
	}
	path := filepath.Join(in.dir, "etc", "broker.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Insert the orders.# rules at the top of security-settings; the
	// most specific pattern applies alone, as in Artemis.
	rules := `security-settings:
  "orders.#":
    send: [writer, sender, amq]
    consume: [reader, amq]
    browse: [auditor, amq]
    createAddress: [writer, amq]
    createDurableQueue: [writer, amq]
    createNonDurableQueue: [reader, amq]
    deleteDurableQueue: [amq]
    deleteNonDurableQueue: [reader, amq]
    manage: [amq]
`
	s := strings.Replace(string(b), "security-settings:\n", rules, 1)
	if s == string(b) {
		t.Fatal("broker.yaml has no security-settings section to extend")
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

func dialAs(t *testing.T, ctx context.Context, in instance, user, pass string, opts ...client.Option) (*client.Conn, error) {
	t.Helper()
	c, err := client.Dial(ctx, in.url(), append(opts, client.WithCredentials(user, pass))...)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// browseBodies lists the bodies waiting on dest, as the admin sees them.
func browseBodies(t *testing.T, ctx context.Context, in instance, dest string) []string {
	t.Helper()
	c, err := dialAs(t, ctx, in, "admin", "admin")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := c.Browse(ctx, dest)
	if err != nil {
		t.Fatalf("admin browse %s: %v", dest, err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Body))
	}
	return out
}

// TestPermissionsAreEnforced tries every operation with a user lacking the
// role for it, and checks that each is refused with a clear error, that
// nothing was changed and that no message leaked.
func TestPermissionsAreEnforced(t *testing.T) {
	in := securedBroker(t)
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	w, err := dialAs(t, ctx, in, "writer", "w-pass")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(ctx, "queue://orders.a", []byte("secret order")); err != nil {
		t.Fatalf("writer may send (and create) orders.a: %v", err)
	}
	if err := w.Send(ctx, "topic://orders.events", []byte("creates the topic")); err != nil {
		t.Fatalf("writer may create the topic orders.events: %v", err)
	}

	refused := []struct {
		name, user, pass string
		try              func(c *client.Conn) error
		mention          string
	}{
		{"reader sends", "reader", "r-pass", func(c *client.Conn) error {
			return c.Send(ctx, "queue://orders.a", []byte("forged"))
		}, "may not send"},
		{"guest sends anywhere", "guest", "g-pass", func(c *client.Conn) error {
			return c.Send(ctx, "queue://other", []byte("forged"))
		}, "may not send"},
		{"sender creates an address", "sender", "s-pass", func(c *client.Conn) error {
			return c.Send(ctx, "queue://orders.new", []byte("forged"))
		}, "may not createAddress"},
		{"auditor consumes", "auditor", "a-pass", func(c *client.Conn) error {
			sub, err := c.Subscribe(ctx, "queue://orders.a")
			if err != nil {
				return err
			}
			// A refusal may come after the SUBSCRIBE was written; a message
			// must never come.
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			defer rcancel()
			m, err := sub.Receive(rctx)
			if err == nil {
				t.Errorf("auditor received %q without the consume role", m.Body)
			}
			return err
		}, "may not consume"},
		{"writer browses", "writer", "w-pass", func(c *client.Conn) error {
			ms, err := c.Browse(ctx, "queue://orders.a", client.WithBrowseTimeout(time.Second))
			if len(ms) > 0 {
				t.Errorf("writer browsed %d messages without the browse role", len(ms))
			}
			return err
		}, "may not browse"},
		{"writer subscribes durably to a topic", "writer", "w-pass", func(c *client.Conn) error {
			_, err := c.Subscribe(ctx, "topic://orders.events", client.WithSubscriptionHeader("durable-subscription-name", "d"))
			return err
		}, "may not consume"},
		{"reader creates a durable subscription", "reader", "r-pass", func(c *client.Conn) error {
			_, err := c.Subscribe(ctx, "topic://orders.events", client.WithSubscriptionHeader("durable-subscription-name", "d"))
			return err
		}, "may not createDurableQueue"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialAs(t, ctx, in, tc.user, tc.pass, client.WithClientID(tc.user+"-id"))
			if err != nil {
				t.Fatal(err)
			}
			err = tc.try(c)
			var be *client.BrokerError
			if !errors.As(err, &be) || !strings.Contains(be.Error(), tc.mention) {
				t.Fatalf("got %v; want a broker ERROR mentioning %q", err, tc.mention)
			}
		})
	}
	// Nothing changed: the one message is still there, alone, and the
	// refused address does not exist (browsing it shows nothing).
	if got := browseBodies(t, ctx, in, "queue://orders.a"); len(got) != 1 || got[0] != "secret order" {
		t.Fatalf("orders.a holds %q after the refused operations; want only the writer's message", got)
	}
	if got := browseBodies(t, ctx, in, "queue://orders.new"); len(got) != 0 {
		t.Fatalf("a refused send created orders.new with %q", got)
	}
	if strings.Contains(p.output(), "forged") {
		t.Fatal("a refused message body reached the broker's log")
	}

	// The roles that are granted work.
	t.Run("auditor browses", func(t *testing.T) {
		c, err := dialAs(t, ctx, in, "auditor", "a-pass")
		if err != nil {
			t.Fatal(err)
		}
		if ms, err := c.Browse(ctx, "queue://orders.a"); err != nil || len(ms) != 1 {
			t.Fatalf("auditor browse: %d messages, %v", len(ms), err)
		}
	})
	t.Run("reader consumes", func(t *testing.T) {
		c, err := dialAs(t, ctx, in, "reader", "r-pass")
		if err != nil {
			t.Fatal(err)
		}
		sub, err := c.Subscribe(ctx, "queue://orders.a")
		if err != nil {
			t.Fatal(err)
		}
		if m, err := sub.Receive(ctx); err != nil || string(m.Body) != "secret order" {
			t.Fatalf("reader received %v, %v", m, err)
		}
	})
}

// TestLoginIsRequired checks that a broker created with --require-login
// refuses anonymous clients and wrong passwords, and that users added,
// changed and removed with tandem user take effect on the running broker.
func TestLoginIsRequired(t *testing.T) {
	in := create(t, "locked", "--require-login")
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.Dial(ctx, in.url()); err == nil || !strings.Contains(err.Error(), "login") {
		t.Fatalf("anonymous client: %v; want a login refusal", err)
	}
	if _, err := dialAs(t, ctx, in, "admin", "wrong"); err == nil || !strings.Contains(err.Error(), "login failed") {
		t.Fatalf("wrong password: %v", err)
	}

	mustTandem(t, "user", "add", "--instance", in.dir, "--user", "late", "--password", "one", "--role", "amq")
	waitLogin(t, ctx, in, "late", "one", true)
	mustTandem(t, "user", "passwd", "--instance", in.dir, "--user", "late", "--password", "two")
	waitLogin(t, ctx, in, "late", "one", false)
	waitLogin(t, ctx, in, "late", "two", true)
	mustTandem(t, "user", "rm", "--instance", in.dir, "--user", "late")
	waitLogin(t, ctx, in, "late", "two", false)
}

// waitLogin polls until a login with user and pass succeeds (ok) or fails
// (!ok): the broker reloads a changed users file within a few seconds.
func waitLogin(t *testing.T, ctx context.Context, in instance, user, pass string, ok bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := client.Dial(ctx, in.url(), client.WithCredentials(user, pass))
		if err == nil {
			c.Close()
		}
		if (err == nil) == ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("login %s/%s: %v; want success %t within 15 s of tandem user", user, pass, err, ok)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFailedLoginsAreThrottled guesses passwords from one address: after
// five failures even the right password is refused for a while, the
// refusal says how long to wait, and each guess is logged.
func TestFailedLoginsAreThrottled(t *testing.T) {
	in := create(t, "guarded", "--require-login")
	p := start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < 5; i++ {
		if _, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "guess")); err == nil || !strings.Contains(err.Error(), "bad credentials") {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	_, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
	if err == nil || !strings.Contains(err.Error(), "too many failed logins from 127.0.0.1: try again in") {
		t.Fatalf("right password right after five guesses: %v; want a throttle", err)
	}
	if n := strings.Count(p.output(), "event=login_failed"); n != 5 {
		t.Fatalf("%d failed logins logged, want 5:\n%s", n, p.output())
	}
	waitLogin(t, ctx, in, "admin", "admin", true) // the lockout is 1 s
}

// TestHTTPAPIRefusesWithoutRights calls the management API anonymously and
// as users without the manage role: reads need a login (401), changes need
// manage (403), and nothing changes.
func TestHTTPAPIRefusesWithoutRights(t *testing.T) {
	in := securedBroker(t)
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	web := fmt.Sprintf("http://127.0.0.1:%d", 8161+in.offset)
	waitListening(t, strings.TrimPrefix(web, "http://"), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := dialAs(t, ctx, in, "writer", "w-pass")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(ctx, "queue://orders.a", []byte("keep me")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, user, pass string
		want                           int
	}{
		{"anonymous list", "GET", "/api/queues", "", "", http.StatusUnauthorized},
		{"anonymous browse", "GET", "/api/queues/orders.a/messages", "", "", http.StatusUnauthorized},
		{"wrong password", "GET", "/api/queues", "admin", "nope", http.StatusUnauthorized},
		{"purge without manage", "POST", "/api/queues/orders.a/purge", "writer", "w-pass", http.StatusForbidden},
		{"delete without manage", "DELETE", "/api/queues/orders.a", "reader", "r-pass", http.StatusForbidden},
		{"send without manage", "POST", "/api/queues/orders.a/messages", "reader", "r-pass", http.StatusForbidden},
		{"create without manage", "POST", "/api/queues", "auditor", "a-pass", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, tc.method, web+tc.path, strings.NewReader(`{"name":"x","body":"forged"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s as %q: %d %s; want %d", tc.method, tc.path, tc.user, resp.StatusCode, body, tc.want)
			}
			if strings.Contains(string(body), "keep me") {
				t.Fatalf("the refusal leaked a message body: %s", body)
			}
		})
	}
	if got := browseBodies(t, ctx, in, "queue://orders.a"); len(got) != 1 || got[0] != "keep me" {
		t.Fatalf("orders.a holds %q after the refused calls; want only the writer's message", got)
	}
}
