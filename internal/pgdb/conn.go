package pgdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ConnectTimeout bounds one attempt to connect, unless the URL sets
// connect_timeout.
const ConnectTimeout = 5 * time.Second

// NormalizeURL accepts the URL forms a user may write: PostgreSQL's own
// (postgres://, postgresql://, or key=value pairs) and the JDBC form Artemis
// configurations carry (jdbc:postgresql://host:port/db?user=u&password=p).
func NormalizeURL(raw string) string {
	return strings.TrimPrefix(strings.TrimSpace(raw), "jdbc:")
}

// ParseURL parses a connection URL (see NormalizeURL) into a pgx
// configuration, with user and password, when not empty, replacing what
// the URL says (jdbc-user and jdbc-password).
func ParseURL(raw, user, password string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(NormalizeURL(raw))
	if err != nil {
		return nil, fmt.Errorf("pgdb: the database URL %s does not parse: %w", Redact(raw), err)
	}
	if user != "" {
		cfg.User = user
	}
	if password != "" {
		cfg.Password = password
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = ConnectTimeout
	}
	return cfg, nil
}

// Redact returns the URL with its password replaced, for logs and errors.
// A PostgreSQL URL has no fragment; one is dropped, since a password
// mistyped after a '#' would otherwise show.
func Redact(raw string) string {
	s := NormalizeURL(raw)
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		if strings.Contains(s, "password") || strings.Contains(s, "@") {
			return "(a connection string that may hold a password)"
		}
		return s
	}
	var secrets []string
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p)
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		secrets = append(secrets, q["password"]...)
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	out := u.String()
	// Whatever the URL's structure hid, no form of a password stays.
	for _, p := range secrets {
		for _, form := range []string{p, url.PathEscape(p), url.QueryEscape(p)} {
			if form != "" {
				out = strings.ReplaceAll(out, form, "xxxxx")
			}
		}
	}
	return out
}

// Connect opens a connection with cfg (copied), naming it app in
// pg_stat_activity and applying settings as session parameters.
func Connect(ctx context.Context, cfg *pgx.ConnConfig, app string, settings map[string]string) (*pgx.Conn, error) {
	c := cfg.Copy()
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	c.RuntimeParams["application_name"] = truncate(app, 63)
	for k, v := range settings {
		c.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", c.Host, c.Port, c.Database, err)
	}
	return conn, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Millis formats d as a PostgreSQL duration setting in milliseconds.
func Millis(d time.Duration) string {
	return fmt.Sprintf("%d", max(d.Milliseconds(), 1))
}

// SQLState returns the SQLSTATE of an error the server reported, or "".
func SQLState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// RolledBack reports whether err is the server's answer that a statement
// failed, which aborts its transaction: it did not, and will not, commit.
// Any other error (a lost connection, a timeout, a cancelled context, a
// FATAL error that ends the session, such as a shutdown) leaves the outcome
// of a COMMIT in flight unknown.
func RolledBack(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	sev := pe.SeverityUnlocalized
	if sev == "" {
		sev = pe.Severity
	}
	return sev == "ERROR"
}
