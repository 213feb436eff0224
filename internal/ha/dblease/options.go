package dblease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/internal/ha"
	"tandem/internal/pgdb"
)

// The lease defaults (docs/ha.md, "The database lease", says why).
const (
	// DefaultLease is how long a lease lasts after its last renewal
	// (jdbc-lock-expiration).
	DefaultLease = 3 * time.Second
	// DefaultRenew is how often the live renews it (jdbc-lock-renew-period).
	DefaultRenew = 500 * time.Millisecond
	// MinLease bounds the lease from below: shorter ones leave no room for
	// a renewal's round trip.
	MinLease = 500 * time.Millisecond
)

// ErrInvalidOptions is wrapped by Wait's error about options it cannot run
// with.
var ErrInvalidOptions = errors.New("dblease: invalid options")

// Clock is the broker's clock as the lease sees it. Only differences of
// its readings are used (so only its monotonic part matters); tests skew it
// to show that a broker's wrong clock changes nothing.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options configure a node whose store is in PostgreSQL. internal/server
// fills them from broker.yaml's store and ha-policy sections.
type Options struct {
	// Conn says how to reach the database.
	Conn *pgx.ConnConfig
	// Tables names the node-manager table (the other names are unused).
	Tables pgdb.Tables
	// Role is the configured role. A broker without ha-policy runs as a
	// primary: it takes the lease whenever it is free.
	Role ha.Role
	// Name is the instance name, written in the row for the console.
	Name string
	// Lease is jdbc-lock-expiration (DefaultLease if zero) and Renew
	// jdbc-lock-renew-period (DefaultRenew if zero, at most Lease/2).
	Lease, Renew time.Duration
	// Poll is how often a waiting node reads the row; Renew/5, at most
	// 100 ms, if zero.
	Poll time.Duration
	// FailoverOnShutdown makes Stop leave the store live, for a waiting
	// backup to take; without it Stop writes P (Artemis semantics).
	FailoverOnShutdown bool
	// AllowFailback lets a live backup hand the store back to a returning
	// primary.
	AllowFailback bool
	// Fence is called synchronously when the lease is lost (or about to
	// expire unrenewed), before Lost is closed. It must stop every store
	// write at once.
	Fence func(cause error)
	// Logger receives the node's log lines; nil discards them.
	Logger *slog.Logger
	// OnState, if set, is called on every state change, in order and never
	// concurrently. It must not block.
	OnState func(ha.State)
	// Clock is the broker's clock; the system clock if nil.
	Clock Clock

	// retryMin and retryMax bound the back-off after an error; tests
	// shorten them.
	retryMin, retryMax time.Duration
	// renewHook, set by tests, runs before every renewal of the Live;
	// a hook that blocks stands for a stalled node or a hung network.
	renewHook func(ctx context.Context)
}

// normalize checks o and fills in defaults.
func (o Options) normalize() (Options, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	o.Tables = o.Tables.WithDefaults()
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Renew == 0 {
		o.Renew = min(DefaultRenew, o.Lease/4)
	}
	if o.Poll == 0 {
		o.Poll = min(o.Renew/5, 100*time.Millisecond)
	}
	// A database that is back should find the pair back within a second
	// or two; a connection attempt a second is cheap.
	o.retryMin = orDefault(o.retryMin, 200*time.Millisecond)
	o.retryMax = orDefault(o.retryMax, 2*time.Second)
	switch {
	case o.Conn == nil:
		return o, fmt.Errorf("%w: no database connection configured", ErrInvalidOptions)
	case o.Role != ha.Primary && o.Role != ha.Backup:
		return o, fmt.Errorf("%w: role %v is neither primary nor backup", ErrInvalidOptions, o.Role)
	case o.Lease < MinLease:
		return o, fmt.Errorf("%w: jdbc-lock-expiration %v is below %v", ErrInvalidOptions, o.Lease, MinLease)
	case o.Renew <= 0 || o.Renew > o.Lease/2:
		return o, fmt.Errorf("%w: jdbc-lock-renew-period %v must be positive and at most half of jdbc-lock-expiration (%v)", ErrInvalidOptions, o.Renew, o.Lease)
	case o.Poll <= 0:
		return o, fmt.Errorf("%w: poll period %v", ErrInvalidOptions, o.Poll)
	}
	if err := o.Tables.Validate(); err != nil {
		return o, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return o, nil
}

// margin is how long before the lease could expire in the database the
// live stops confirming: a quarter of the lease, which covers a database
// clock running a little fast and the time a confirmation takes to leave.
func (o Options) margin() time.Duration { return o.Lease / 4 }

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// where describes the store for log lines, without the password.
func (o Options) where() string {
	return fmt.Sprintf("database %s:%d/%s (table %s)", o.Conn.Host, o.Conn.Port, o.Conn.Database, o.Tables.NodeManager)
}

// roleLetter is the role as the row stores it.
func roleLetter(r ha.Role) string {
	if r == ha.Primary {
		return "P"
	}
	return "B"
}

// reporter serialises state reports to Options.OnState.
type reporter struct {
	mu      sync.Mutex
	onState func(ha.State)
	cur     ha.State
}

// set reports a state; an identical report is dropped.
func (r *reporter) set(name string, nodeID string, epoch uint64, live, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.cur
	next.Name, next.Detail = name, detail
	if nodeID != "" {
		next.NodeID, next.Epoch, next.LiveName = nodeID, epoch, live
	}
	if next.Name != r.cur.Name {
		next.Since = time.Now()
	}
	if next == r.cur {
		return
	}
	r.cur = next
	if r.onState != nil {
		r.onState(next)
	}
}
