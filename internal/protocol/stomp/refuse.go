package stomp

import (
	"fmt"
	"io"
	"net"
	"time"

	"tandem/internal/listener"
	wire "tandem/internal/wire/stomp"
)

var _ listener.Refuser = (*Server)(nil)

// Refuse implements listener.Refuser: it answers a connection the listener
// will not serve with an ERROR frame that says why, then lets the client
// read it before the connection closes.
func (s *Server) Refuse(nc net.Conn, reason string) {
	w := wire.NewWriter(nc)
	f := &wire.Frame{Command: wire.CmdError, Headers: wire.Headers{
		{Key: "message", Value: reason}, {Key: "content-type", Value: "text/plain"},
	}, Body: []byte(reason + "\n")}
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	if w.WriteFrame(f) != nil || w.Flush() != nil {
		return
	}
	// Drain what the client sent (its CONNECT) for a moment, so that the
	// close does not reset the connection before the ERROR is read.
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
}

// DefaultMaxDestinationLength bounds a destination name when
// Options.MaxDestinationLength is 0.
const DefaultMaxDestinationLength = 1024

// checkDestination applies the destination-name limit.
func (c *conn) checkDestination(d destination) error {
	limit := c.srv.opts.MaxDestinationLength
	if limit <= 0 {
		limit = DefaultMaxDestinationLength
	}
	if len(d.address) > limit {
		return fmt.Errorf("destination name is %d bytes long; the limit is %d (max-destination-name-length in broker.yaml)", len(d.address), limit)
	}
	return nil
}

// acquireUserSlot applies max-connections-per-user after login. It
// answers ERROR and returns false when the user has too many connections.
func (c *conn) acquireUserSlot(user string) bool {
	release, err := c.srv.opts.Limits.AcquireUser(user)
	if err != nil {
		reason := fmt.Sprintf("connection refused: max-connections-per-user (%d) reached for user %q; close other connections or raise the limit in broker.yaml",
			c.srv.opts.Limits.MaxPerUser(), user)
		c.log.Warn("connection refused: max-connections-per-user reached", "event", "connection_refused", "user", user,
			"max", c.srv.opts.Limits.MaxPerUser())
		c.sendError(reason, reason, "")
		return false
	}
	prev := c.release
	c.release = func() {
		if prev != nil {
			prev()
		}
		release()
	}
	return true
}
