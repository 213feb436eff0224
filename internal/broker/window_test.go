package broker

import (
	"strings"
	"testing"

	"tandem/internal/store/memstore"
)

// TestWindowBytes checks the consumer window in bytes for each ack mode:
// deliveries stop once their sizes add up to the window, a consumer always
// gets one delivery however big, and acknowledging (or, for auto-ack,
// crediting what was written) lets more in.
func TestWindowBytes(t *testing.T) {
	const size = 4 << 10
	one := msg("w", strings.Repeat("x", size)).DeliverySize()
	tests := []struct {
		name   string
		mode   AckMode
		window int64
		want   int // deliveries before any ack or credit
	}{
		{"two and a half messages, individual acks", AckIndividual, one * 5 / 2, 3},
		{"exactly two messages, cumulative acks", AckClient, one * 2, 2},
		{"auto-ack, credited as written", AckAuto, one * 3, 3},
		{"smaller than one message", AckIndividual, one / 2, 1},
		{"unbounded", AckIndividual, -1, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBroker(t, memstore.New(), Options{})
			s := session(t, b, "")
			for i := 0; i < 8; i++ {
				send(t, s, msg("w", strings.Repeat("x", size)))
			}
			c, k := subscribe(t, s, SubscribeOptions{Address: "w", AckMode: tt.mode, WindowBytes: tt.window})
			ds := k.wait(t, tt.want)
			if got := k.count(); got != tt.want {
				t.Fatalf("%d deliveries with a %d-byte window of %d-byte messages, want %d", got, tt.window, one, tt.want)
			}
			if tt.want == 8 {
				return
			}
			// Release the first delivery: exactly one more comes in.
			if tt.mode == AckAuto {
				c.AddCredit(1)
			} else {
				c.Ack(ds[0].ID, nil, nil)
			}
			k.wait(t, tt.want+1)
			if got := k.count(); got != tt.want+1 {
				t.Fatalf("after releasing one delivery: %d deliveries, want %d", got, tt.want+1)
			}
		})
	}
}

// TestDefaultConsumerWindowSize checks that a consumer asking for no window
// in bytes gets its address's default-consumer-window-size, with Artemis'
// 0 meaning one delivery at a time.
func TestDefaultConsumerWindowSize(t *testing.T) {
	for _, tt := range []struct {
		name    string
		setting int64
		want    int
	}{
		{"no buffering", 0, 1},
		{"unlimited", -1, 6},
		{"one message and a bit", 5 << 10, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := startBroker(t, memstore.New(), Options{Settings: settingsWith(func(s *AddressSettings) {
				s.DefaultConsumerWindowSize = tt.setting
			})})
			s := session(t, b, "")
			for i := 0; i < 6; i++ {
				send(t, s, msg("d", strings.Repeat("x", 4<<10)))
			}
			_, k := subscribe(t, s, SubscribeOptions{Address: "d", AckMode: AckIndividual})
			k.wait(t, tt.want)
			if got := k.count(); got != tt.want {
				t.Fatalf("%d deliveries with default-consumer-window-size %d, want %d", got, tt.setting, tt.want)
			}
		})
	}
}
