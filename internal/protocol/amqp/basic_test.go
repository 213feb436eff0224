package amqp

import (
	"testing"

	goamqp "github.com/Azure/go-amqp"
)

func TestSendAndReceive(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := r.dialGo(t, nil)
	s := newSession(t, c)
	snd := newSender(t, s, "orders", nil)
	send(t, snd, goamqp.NewMessage([]byte("one")))
	send(t, snd, &goamqp.Message{Value: "two"})
	rcv := newReceiver(t, s, "orders", nil)
	for _, want := range []string{"one", "two"} {
		m := receive(t, rcv)
		if got := text(m); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if err := rcv.AcceptMessage(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the queue to empty", func() bool { return r.depth(t, "orders") == 0 })
}
