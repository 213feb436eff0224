package listener

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// KeyedLimit bounds how many things (connections) one key (a client IP, a
// user name) may hold at once. The zero value and a Max of 0 or less admit
// everything. It is safe for concurrent use.
type KeyedLimit struct {
	Max int

	mu   sync.Mutex
	held map[string]int
}

// Acquire takes one slot for key and returns the function that gives it
// back, or ok false when key already holds Max.
func (l *KeyedLimit) Acquire(key string) (release func(), ok bool) {
	if l == nil || l.Max <= 0 {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] >= l.Max {
		return nil, false
	}
	if l.held == nil {
		l.held = map[string]int{}
	}
	l.held[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.held[key]--; l.held[key] <= 0 {
				delete(l.held, key) // keep the map as small as the clients connected
			}
			l.mu.Unlock()
		})
	}, true
}

// Held returns how many slots key holds.
func (l *KeyedLimit) Held(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[key]
}

// Refuser is implemented by a Protocol that can tell a client, in its own
// terms, why its connection is refused (for STOMP, an ERROR frame) before
// the listener closes it.
type Refuser interface {
	Refuse(conn net.Conn, reason string)
}

// maxRefusing bounds the connections being told why they are refused at
// the same time; beyond it, refused connections are closed without a
// word, so that a flood cannot make the refusals themselves costly.
const maxRefusing = 32

// refuseTimeout bounds how long a refused connection may take to show its
// protocol and receive the explanation.
const refuseTimeout = 2 * time.Second

// refuse closes c, first explaining reason in the client's protocol when
// the client shows it quickly and a refusal slot is free.
func (l *Listener) refuse(c net.Conn, reason string) {
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() { <-l.refusing }()
		defer c.Close()
		if l.opts.TLS != nil {
			// A TLS client gets no explanation: the handshake alone would
			// cost more than the connection is worth.
			return
		}
		ctx, cancel := context.WithTimeout(l.ctx, refuseTimeout)
		defer cancel()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		p, pc, err := l.detectWithin(c, refuseTimeout)
		if err != nil {
			return
		}
		if r, ok := p.(Refuser); ok {
			r.Refuse(pc, reason)
		}
	}()
}

// remoteIP is the IP address of a connection's peer, or its whole address
// when it has no IP (a Unix socket in tests).
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}

// limitReason words a refusal for the log and the client.
func limitReason(what string, max int, who string) string {
	return fmt.Sprintf("connection refused: %s (%d) reached%s; close other connections or raise the limit in broker.yaml", what, max, who)
}
