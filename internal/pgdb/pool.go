package pgdb

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
)

// ErrPoolClosed is returned by Acquire after Close.
var ErrPoolClosed = errors.New("pgdb: connection pool closed")

// Pool is a small pool of connections for short reads (large message
// bodies, page records), opened on demand and kept open while idle. pgx's
// own pool lives in another module; this is all tandem needs of one.
type Pool struct {
	cfg      *pgx.ConnConfig
	app      string
	settings map[string]string
	slots    chan struct{}

	mu     sync.Mutex
	idle   []*pgx.Conn
	closed bool
}

// NewPool returns a pool of at most max connections made with Connect.
func NewPool(cfg *pgx.ConnConfig, app string, settings map[string]string, max int) *Pool {
	return &Pool{cfg: cfg, app: app, settings: settings, slots: make(chan struct{}, max)}
}

// Acquire returns a connection for the caller alone until Release.
func (p *Pool) Acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, ErrPoolClosed
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	c, err := Connect(ctx, p.cfg, p.app, p.settings)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// Release gives c back. A connection that failed (err is not nil and not
// an error the server reported), or that is closed, is dropped.
func (p *Pool) Release(c *pgx.Conn, err error) {
	defer func() { <-p.slots }()
	keep := !c.IsClosed() && (err == nil || RolledBack(err)) && c.PgConn().TxStatus() == 'I'
	p.mu.Lock()
	if keep && !p.closed {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	c.Close(context.Background())
}

// Close closes the idle connections; connections in use are closed as
// they are released.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close(context.Background())
	}
}
