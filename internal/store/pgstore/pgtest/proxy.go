package pgtest

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a server on loopback and breaks them
// on demand, as a network partition or a crashed link would, without
// touching the server. Point a connection URL at it with URL.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	links   map[*link]bool
	refuse  bool
	next    cutMode
	nextFor time.Duration
	closed  bool
}

// cutMode says what happens to the next request a client sends.
type cutMode int

const (
	cutNone   cutMode = iota
	cutBefore         // drop it and close the connection
	cutAfter          // forward it, drop the answer, close the connection
)

type link struct {
	client, server net.Conn
	mu             sync.Mutex
	mute           bool // drop what the server sends
}

func (l *link) close() {
	l.client.Close()
	l.server.Close()
}

// NewProxy starts a proxy to target (host:port), closed when tb ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, links: map[*link]bool{}}
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Port returns the proxy's port on 127.0.0.1.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// URL returns url (of the proxied server) with its port replaced by the
// proxy's.
func (p *Proxy) URL(url string) string {
	_, port, _ := net.SplitHostPort(p.target)
	return strings.Replace(url, ":"+port+"/", ":"+strconv.Itoa(p.Port())+"/", 1)
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s}
		p.mu.Lock()
		p.links[l] = true
		p.mu.Unlock()
		go p.up(l)
		go p.down(l)
	}
}

// up copies client to server, applying a pending cut to the first request
// it reads.
func (p *Proxy) up(l *link) {
	defer p.drop(l)
	buf := make([]byte, 64<<10)
	for {
		n, err := l.client.Read(buf)
		if n > 0 {
			p.mu.Lock()
			mode, delay := p.next, p.nextFor
			p.next = cutNone
			p.mu.Unlock()
			switch mode {
			case cutBefore:
				return
			case cutAfter:
				l.mu.Lock()
				l.mute = true
				l.mu.Unlock()
				time.AfterFunc(delay, l.close)
			}
			if _, werr := l.server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// down copies server to client unless the link is muted.
func (p *Proxy) down(l *link) {
	defer p.drop(l)
	buf := make([]byte, 64<<10)
	for {
		n, err := l.server.Read(buf)
		if n > 0 {
			l.mu.Lock()
			mute := l.mute
			l.mu.Unlock()
			if !mute {
				if _, werr := l.client.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) drop(l *link) {
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// CutBeforeNextRequest makes the proxy drop the next request any client
// sends and close that connection: the server never sees it.
func (p *Proxy) CutBeforeNextRequest() {
	p.mu.Lock()
	p.next = cutBefore
	p.mu.Unlock()
}

// CutAfterNextRequest makes the proxy forward the next request any client
// sends, and everything that client sends for the next delay, but none of
// the server's answers; then it closes that connection. A COMMIT in that
// request commits while its client never learns it did.
func (p *Proxy) CutAfterNextRequest(delay time.Duration) {
	p.mu.Lock()
	p.next, p.nextFor = cutAfter, delay
	p.mu.Unlock()
}

// Partition closes every connection and refuses new ones until Heal.
func (p *Proxy) Partition() {
	p.mu.Lock()
	p.refuse = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// Heal accepts connections again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Partition()
}
