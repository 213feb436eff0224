package protocol

import (
	"net"
	"time"
)

// ExtendReadDeadline moves a connection's keep-alive read deadline after a
// frame, for every adapter. Moving it costs a timer update, so it moves only
// once an eighth of limit has passed since *setAt (when it last moved), and
// then to an eighth beyond limit: a silent peer is cut off between one and
// one and an eighth limits after its last frame, and a busy connection pays
// for the timer a few times per limit instead of once per frame.
func ExtendReadDeadline(nc net.Conn, limit time.Duration, setAt *time.Time) {
	now := time.Now()
	if now.Sub(*setAt) < limit/8 {
		return
	}
	*setAt = now
	_ = nc.SetReadDeadline(now.Add(limit + limit/8))
}
