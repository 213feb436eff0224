package stomp

import (
	"errors"
	"syscall"

	"tandem/internal/protocol"
)

// authenticate checks a CONNECT's credentials, with the client's IP
// address, by which the authenticator throttles password guessing.
func (c *conn) authenticate(login, pass string) (protocol.Identity, error) {
	return c.srv.opts.Auth.Authenticate(protocol.SourceOf(c.nc), login, pass)
}

// logLoginFailure logs a refused login. A login refused by the throttle,
// without a password check, goes to debug: an attacker's every attempt at
// warn level would flood the log.
func (c *conn) logLoginFailure(login string, err error) {
	if protocol.Throttled(err) {
		c.log.Debug("login throttled", "event", "login_throttled", "user", login, "err", err)
		return
	}
	c.log.Warn("login failed", "event", "login_failed", "user", login, "remote", c.nc.RemoteAddr().String(), "err", err)
}

// sendRefusal is the ERROR message header for a send the broker could not
// store. A full or failing disk is named in it, because the header is the
// one line most clients show, and the body's detail (file, offset) may be
// cut off.
func sendRefusal(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "send failed: the broker's disk is full; the message was not stored"
	case errors.As(err, &errno):
		return "send failed: the broker cannot write to its disk (" + errno.Error() + "); the message was not stored"
	}
	return "send failed"
}
