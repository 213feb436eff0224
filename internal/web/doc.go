// Package web is tandem's HTTP port (8161 + port offset): the operator's
// console, the JSON management API under /api/, Prometheus metrics at
// /metrics, and the health probes /healthz and /readyz. docs/management.md
// is the user-facing reference for every endpoint.
//
// A node serves HTTP whatever its role. While it waits for the shared
// store as a backup, Node.Broker returns nil: the console and /api/node
// show the backup's state (the directory it waits on, since when, the
// live's node id), /readyz answers 503, and every call that would read or
// change broker state is refused with a message that points at the live.
//
// The package declares what it needs from the rest of the process as small
// interfaces (Node, Broker, Authenticator); internal/server implements
// them. It never imports a protocol adapter.
//
// Every /api/ call and every console page needs credentials, checked
// against the broker's users: HTTP basic authentication, or the session
// cookie the console's login sets. Reading needs any valid user; changing
// anything needs the manage role. /healthz, /readyz and /metrics are open,
// as load balancers and Prometheus scrapers expect.
package web
