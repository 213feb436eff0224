package client

import (
	"errors"
	"testing"

	"tandem/internal/wire/stomp"
)

func TestTransactionCommit(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "in", WithAckMode(AckClient))
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdSubscribe)
	sc.message(sub.ID(), "/queue/in", "m-1", "x", "ack", "a-1")
	m, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}

	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := sc.expect(t, stomp.CmdBegin)
	if b.Headers.Value("transaction") != tx.ID() {
		t.Fatalf("BEGIN = %s", b)
	}
	if err := tx.Send(ctx, "out", []byte("y")); err != nil {
		t.Fatal(err)
	}
	f := sc.expect(t, stomp.CmdSend)
	if f.Headers.Value("transaction") != tx.ID() || f.Headers.Value("persistent") != "true" || f.Headers.Value(stomp.HdrDuplicateID) == "" {
		t.Errorf("transacted SEND = %s", f)
	}
	if _, ok := f.Headers.Get(stomp.HdrReceipt); ok {
		t.Errorf("transacted SEND waits for a receipt; the commit confirms it: %s", f)
	}
	if err := tx.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	if a := sc.expect(t, stomp.CmdAck); a.Headers.Value("transaction") != tx.ID() || a.Headers.Value("id") != "a-1" {
		t.Errorf("transacted ACK = %s", a)
	}
	if err := tx.Nack(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n := sc.expect(t, stomp.CmdNack); n.Headers.Value("transaction") != tx.ID() {
		t.Errorf("transacted NACK = %s", n)
	}
	if err := tx.Send(ctx, "out", nil, WithHeader("transaction", "other")); !errors.Is(err, ErrReservedHeader) {
		t.Errorf("overriding transaction = %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if cf := sc.expect(t, stomp.CmdCommit); cf.Headers.Value("transaction") != tx.ID() {
		t.Errorf("COMMIT = %s", cf)
	}
	for name, err := range map[string]error{
		"Send":   tx.Send(ctx, "out", nil),
		"Ack":    tx.Ack(ctx, m),
		"Commit": tx.Commit(ctx),
		"Abort":  tx.Abort(ctx),
	} {
		if !errors.Is(err, ErrTxDone) {
			t.Errorf("%s after Commit = %v", name, err)
		}
	}
}

func TestTransactionAbort(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdBegin)
	if err := tx.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if a := sc.expect(t, stomp.CmdAbort); a.Headers.Value("transaction") != tx.ID() {
		t.Errorf("ABORT = %s", a)
	}
	if err := tx.Commit(ctx); !errors.Is(err, ErrTxDone) {
		t.Errorf("Commit after Abort = %v", err)
	}
}

func TestTransactionConnectionLost(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdBegin)
	sc.nc.Close()
	<-c.Done()
	if err := tx.Send(ctx, "q", nil); !errors.Is(err, ErrTxRolledBack) {
		t.Errorf("Send in a broken transaction = %v", err)
	}
	err = tx.Commit(ctx)
	if !errors.Is(err, ErrTxRolledBack) || !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Commit after the connection broke = %v", err)
	}
}

func TestCommitOutcomeUnknown(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer) { s.autoReceipt = false })
	c, sc := dial(t, s)
	ctx := testCtx(t)
	began := async(func() error {
		_, err := c.Begin(ctx)
		return err
	})
	sc.receipt(t, sc.expect(t, stomp.CmdBegin))
	if err := result(t, began); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	var tx *Tx
	for _, open := range c.txs {
		tx = open
	}
	c.mu.Unlock()
	res := async(func() error { return tx.Commit(ctx) })
	sc.expect(t, stomp.CmdCommit)
	sc.nc.Close()
	if err := result(t, res); !errors.Is(err, ErrCommitUnknown) {
		t.Fatalf("Commit cut off before its receipt = %v", err)
	}
}

func TestCommitRefused(t *testing.T) {
	s := newFakeServer(t, nil)
	c, sc := dial(t, s)
	ctx := testCtx(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc.expect(t, stomp.CmdBegin)
	sc.auto.Store(false)
	res := async(func() error { return tx.Commit(ctx) })
	f := sc.expect(t, stomp.CmdCommit)
	sc.send(&stomp.Frame{Command: stomp.CmdError, Headers: stomp.Headers{
		{Key: stomp.HdrMessage, Value: "duplicate message"},
		{Key: stomp.HdrReceiptID, Value: f.Headers.Value(stomp.HdrReceipt)},
	}})
	err = result(t, res)
	var be *BrokerError
	if !errors.Is(err, ErrTxRolledBack) || !errors.As(err, &be) || be.Message != "duplicate message" {
		t.Fatalf("refused Commit = %v", err)
	}
}
