package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"tandem/client"
)

// TestLimitsFromBrokerYAML sets connection and frame limits in broker.yaml
// and checks that the running broker applies them with clear errors.
func TestLimitsFromBrokerYAML(t *testing.T) {
	in := create(t, "limited")
	replaceInConfig(t, in,
		[2]string{"max-connections-per-user: -1", "max-connections-per-user: 2"},
		[2]string{"max-destination-name-length: 1024", "max-destination-name-length: 32"},
	)
	start(t, in)
	waitListening(t, in.addr(), 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for i := 0; i < 2; i++ {
		if _, err := dialAs(t, ctx, in, "admin", "admin"); err != nil {
			t.Fatalf("connection %d within max-connections-per-user: %v", i+1, err)
		}
	}
	_, err := client.Dial(ctx, in.url(), client.WithCredentials("admin", "admin"))
	if err == nil || !strings.Contains(err.Error(), `max-connections-per-user (2) reached for user "admin"`) {
		t.Fatalf("third connection of admin: %v; want the per-user refusal", err)
	}
	c, err := dialAs(t, ctx, in, "", "") // anonymous is another user
	if err != nil {
		t.Fatal(err)
	}
	err = c.Send(ctx, "queue://"+strings.Repeat("n", 33), []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "destination name is 33 bytes long; the limit is 32") {
		t.Fatalf("send to a 33-byte destination: %v", err)
	}
}
