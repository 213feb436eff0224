package web

import (
	"net/http"
	"strings"
	"testing"

	"tandem/internal/broker"
	"tandem/internal/paging"
	"tandem/internal/store/memstore"
)

// endpoints lists every /api/ call with a body that is valid for it.
var endpoints = []struct {
	method, path, body string
	mutates            bool
}{
	{"GET", "/api/node", "", false},
	{"GET", "/api/queues", "", false},
	{"GET", "/api/queues/orders", "", false},
	{"GET", "/api/queues/orders/messages", "", false},
	{"GET", "/api/addresses", "", false},
	{"GET", "/api/consumers", "", false},
	{"GET", "/api/connections", "", false},
	{"POST", "/api/queues", `{"name":"fresh"}`, true},
	{"POST", "/api/queues/orders/messages", `{"body":"hi"}`, true},
	{"POST", "/api/queues/orders/purge", "", true},
	{"POST", "/api/queues/orders/delete", "", true},
	{"DELETE", "/api/queues/orders", "", true},
	{"POST", "/api/node/force-failover", "", true},
}

func TestAPIRefusesWithoutCredentialsAndManageRole(t *testing.T) {
	for _, ep := range endpoints {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			node, b := liveNode(t)
			if err := b.CreateQueue(broker.QueueConfig{Name: "orders", Durable: true}); err != nil {
				t.Fatal(err)
			}
			ts := serve(t, node)

			status, body := call(t, ts, ep.method, ep.path, "", ep.body)
			if status != http.StatusUnauthorized || !strings.Contains(body, "authentication required") {
				t.Errorf("anonymous: %d %s, want 401 that says authentication is required", status, body)
			}
			if status, _ := call(t, ts, ep.method, ep.path, ":", ep.body); status != http.StatusUnauthorized {
				t.Errorf("empty basic user: %d, want 401", status)
			}
			if status, _ := call(t, ts, ep.method, ep.path, "admin:wrong", ep.body); status != http.StatusUnauthorized {
				t.Errorf("wrong password: %d, want 401", status)
			}
			status, body = call(t, ts, ep.method, ep.path, "viewer:look", ep.body)
			switch {
			case ep.mutates && (status != http.StatusForbidden || !strings.Contains(body, "manage role")):
				t.Errorf("viewer changing: %d %s, want 403 naming the manage role", status, body)
			case !ep.mutates && status != http.StatusOK:
				t.Errorf("viewer reading: %d %s, want 200", status, body)
			}
			status, body = call(t, ts, ep.method, ep.path, "admin:secret", ep.body)
			if status < 200 || status > 299 {
				t.Errorf("admin: %d %s, want success", status, body)
			}
		})
	}
}

func TestAPIQueueLifecycle(t *testing.T) {
	node, b := liveNode(t)
	ts := serve(t, node)
	const admin = "admin:secret"

	var created QueueJSON
	mustCall(t, ts, "POST", "/api/queues", admin, `{"name":"orders","routingType":"anycast"}`, http.StatusCreated, &created)
	if created.Name != "orders" || created.Address != "orders" || created.RoutingType != "ANYCAST" || !created.Durable {
		t.Fatalf("created queue = %+v", created)
	}
	mustCall(t, ts, "POST", "/api/queues", admin, `{"name":"orders"}`, http.StatusConflict, nil)
	mustCall(t, ts, "POST", "/api/queues", admin, `{"name":"x","routingType":"sideways"}`, http.StatusBadRequest, nil)
	mustCall(t, ts, "POST", "/api/queues", admin, `{"nmae":"typo"}`, http.StatusBadRequest, nil)

	send(t, b, "orders", 3, "order body")
	mustCall(t, ts, "POST", "/api/queues/orders/messages", admin,
		`{"body":"from the api","headers":{"color":"blue"},"priority":9}`, http.StatusCreated, nil)

	var q QueueJSON
	mustCall(t, ts, "GET", "/api/queues/orders", admin, "", http.StatusOK, &q)
	if q.MessageCount != 4 || q.MessagesAdded != 4 || q.ConsumerCount != 0 {
		t.Fatalf("queue after 4 sends = %+v", q)
	}
	var all []QueueJSON
	mustCall(t, ts, "GET", "/api/queues", admin, "", http.StatusOK, &all)
	if len(all) != 1 || all[0].Name != "orders" {
		t.Fatalf("/api/queues = %+v", all)
	}

	var msgs []MessageJSON
	mustCall(t, ts, "GET", "/api/queues/orders/messages?limit=10", admin, "", http.StatusOK, &msgs)
	if len(msgs) != 4 {
		t.Fatalf("browsed %d messages, want 4", len(msgs))
	}
	first := msgs[0] // priority 9 is delivered first
	if first.Body != "from the api" || first.Headers["color"] != "blue" || first.Priority != 9 || first.BodyEncoding != "text" {
		t.Fatalf("first browsed message = %+v", first)
	}
	if msgs[1].Body != "order body" || msgs[1].Headers["seq"] != "0" {
		t.Fatalf("second browsed message = %+v", msgs[1])
	}
	mustCall(t, ts, "GET", "/api/queues/orders/messages?limit=0", admin, "", http.StatusBadRequest, nil)

	var purged struct{ Removed int }
	mustCall(t, ts, "POST", "/api/queues/orders/purge", admin, "", http.StatusOK, &purged)
	if purged.Removed != 4 {
		t.Fatalf("purge removed %d, want 4", purged.Removed)
	}
	mustCall(t, ts, "GET", "/api/queues/orders", admin, "", http.StatusOK, &q)
	if q.MessageCount != 0 {
		t.Fatalf("depth after purge = %d", q.MessageCount)
	}

	mustCall(t, ts, "DELETE", "/api/queues/orders", admin, "", http.StatusOK, nil)
	mustCall(t, ts, "GET", "/api/queues/orders", admin, "", http.StatusNotFound, nil)
	mustCall(t, ts, "POST", "/api/queues/orders/purge", admin, "", http.StatusNotFound, nil)
	mustCall(t, ts, "GET", "/api/nothing-here", admin, "", http.StatusNotFound, nil)
}

func TestAPIAddressesConsumersConnections(t *testing.T) {
	node, b := liveNode(t)
	ts := serve(t, node)
	sess, err := b.NewSession(broker.SessionInfo{User: "alice", RemoteAddr: "10.0.0.9:5000", Protocol: "stomp", ClientID: "app-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Subscribe(broker.SubscribeOptions{Address: "events", AckMode: broker.AckClient,
		Deliver: func(broker.Delivery) {}}); err != nil {
		t.Fatal(err)
	}
	send(t, b, "events", 2, "e")

	var addrs []AddressJSON
	mustCall(t, ts, "GET", "/api/addresses", "viewer:look", "", http.StatusOK, &addrs)
	if len(addrs) != 1 || addrs[0].Name != "events" || len(addrs[0].Queues) != 1 || addrs[0].RoutingTypes[0] != "ANYCAST" {
		t.Fatalf("/api/addresses = %+v", addrs)
	}
	var conns []ConnectionJSON
	mustCall(t, ts, "GET", "/api/connections", "viewer:look", "", http.StatusOK, &conns)
	if len(conns) != 1 || conns[0].User != "alice" || conns[0].RemoteAddr != "10.0.0.9:5000" ||
		conns[0].Protocol != "stomp" || conns[0].ClientID != "app-1" || conns[0].Consumers != 1 {
		t.Fatalf("/api/connections = %+v", conns)
	}
	var cons []ConsumerJSON
	mustCall(t, ts, "GET", "/api/consumers", "viewer:look", "", http.StatusOK, &cons)
	if len(cons) != 1 || cons[0].Queue != "events" || cons[0].AckMode != "client" || cons[0].Delivering != 2 ||
		cons[0].ConnectionID != conns[0].ID || cons[0].User != "alice" {
		t.Fatalf("/api/consumers = %+v", cons)
	}
}

func TestAPINodeAndHealthOnLive(t *testing.T) {
	node, _ := liveNode(t)
	ts := serve(t, node)
	var n NodeJSON
	mustCall(t, ts, "GET", "/api/node", "viewer:look", "", http.StatusOK, &n)
	if n.Role != RoleLive || !n.Ready || n.NodeID != "node-1" || n.Epoch != 7 || n.State != "live" ||
		n.Name != "master" || n.UptimeSeconds < 59 || n.Started == "" {
		t.Fatalf("/api/node = %+v", n)
	}
	mustCall(t, ts, "GET", "/readyz", "", "", http.StatusOK, nil)
	mustCall(t, ts, "GET", "/healthz", "", "", http.StatusOK, nil)
	mustCall(t, ts, "POST", "/api/node/force-failover", "admin:secret", "", http.StatusAccepted, nil)
	if node.failovers != 1 {
		t.Fatalf("force-failover reached the node %d times, want 1", node.failovers)
	}
}

func TestAPIForceFailoverNeedsAPair(t *testing.T) {
	node, _ := liveNode(t)
	node.status.HAPolicy = "none"
	ts := serve(t, node)
	status, body := call(t, ts, "POST", "/api/node/force-failover", "admin:secret", "")
	if status != http.StatusConflict || !strings.Contains(body, "shared-store pair") {
		t.Fatalf("force-failover on a standalone broker: %d %s, want 409 that explains", status, body)
	}
}

func TestBackupAnswersReadOnly(t *testing.T) {
	ts := serve(t, backupNode(t))
	const admin = "admin:secret"

	var n NodeJSON
	mustCall(t, ts, "GET", "/api/node", admin, "", http.StatusOK, &n)
	if n.Role != RoleBackup || n.Ready || n.State != "waiting" || n.JournalDirectory != "/mnt/shared/tandem/journal" ||
		n.StateSince == "" || n.NodeID != "node-1" || n.LiveName != "master" {
		t.Fatalf("/api/node on a backup = %+v", n)
	}
	mustCall(t, ts, "GET", "/healthz", "", "", http.StatusOK, nil)
	status, body := call(t, ts, "GET", "/readyz", "", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"role": "backup"`) {
		t.Fatalf("/readyz on a backup: %d %s, want 503 naming the role", status, body)
	}
	for _, ep := range endpoints {
		if ep.path == "/api/node" {
			continue
		}
		status, body := call(t, ts, ep.method, ep.path, admin, ep.body)
		want := http.StatusServiceUnavailable
		if ep.mutates {
			want = http.StatusConflict
		}
		if status != want || !strings.Contains(body, "not live") {
			t.Errorf("%s %s on a backup: %d %s, want %d saying the node is not live", ep.method, ep.path, status, body, want)
		}
	}
	// Authentication still comes first on a backup.
	mustCall(t, ts, "POST", "/api/queues/orders/purge", "", "", http.StatusUnauthorized, nil)
	mustCall(t, ts, "POST", "/api/queues/orders/purge", "viewer:look", "", http.StatusForbidden, nil)
}

// TestAPIShowsPaging checks that an address over its max-size-bytes with
// the PAGE policy shows as paging, with its bytes in memory, in
// /api/addresses and on its queues in /api/queues.
func TestAPIShowsPaging(t *testing.T) {
	pager, err := paging.New(paging.Options{Dir: t.TempDir(), PageSize: func(string) int64 { return 64 << 10 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pager.Close() })
	const maxSize = 16 << 10
	b, err := broker.New(broker.Options{Store: memstore.New(), Pager: pager, Settings: func(addr string) broker.AddressSettings {
		s := broker.DefaultAddressSettings()
		if addr == "big" {
			s.MaxSizeBytes, s.FullPolicy = maxSize, broker.FullPage
		}
		return s
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ts := serve(t, &fakeNode{status: NodeStatus{Role: RoleLive, State: "live", HAPolicy: "none"}, b: b})
	send(t, b, "small", 3, "s")
	send(t, b, "big", 100, strings.Repeat("x", 1000))

	var addrs []AddressJSON
	mustCall(t, ts, "GET", "/api/addresses", "viewer:look", "", http.StatusOK, &addrs)
	got := map[string]AddressJSON{}
	for _, a := range addrs {
		got[a.Name] = a
	}
	if a := got["big"]; !a.Paging || a.SizeBytes < maxSize/2 {
		t.Errorf("address big over its limit shows %+v; want paging with its bytes in memory", a)
	}
	if a := got["small"]; a.Paging || a.SizeBytes != 0 {
		t.Errorf("unlimited address small shows %+v; want no paging and no size", a)
	}
	var qs []QueueJSON
	mustCall(t, ts, "GET", "/api/queues", "viewer:look", "", http.StatusOK, &qs)
	for _, q := range qs {
		if want := q.Address == "big"; q.Paging != want {
			t.Errorf("queue %s of address %s shows paging %v, want %v", q.Name, q.Address, q.Paging, want)
		}
	}
}

// securityRules is an Authorizer for the permission tests: viewer may not
// browse, and nobody may send to the address "locked".
type securityRules struct{}

func (securityRules) Authorize(user string, _ []string, perm broker.Permission, addr string) bool {
	switch {
	case user == "viewer" && perm == broker.PermBrowse:
		return false
	case addr == "locked" && perm == broker.PermSend:
		return false
	}
	return true
}

// TestAPIAppliesSecuritySettings checks that management holds its callers
// to the permissions of security-settings, as messaging clients are held:
// browsing a queue's messages needs browse on its address, sending a test
// message needs send, and a refusal (403) changes nothing.
func TestAPIAppliesSecuritySettings(t *testing.T) {
	const admin = "admin:secret"
	b, err := broker.New(broker.Options{Store: memstore.New(), Authorizer: securityRules{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ts := serve(t, &fakeNode{status: NodeStatus{Role: RoleLive, State: "live", HAPolicy: "none"}, b: b})
	send(t, b, "orders", 2, "secret order")
	if err := b.CreateQueue(broker.QueueConfig{Name: "locked", Address: "locked", Durable: true}); err != nil {
		t.Fatal(err)
	}

	mustCall(t, ts, "GET", "/api/queues/orders/messages", "viewer:look", "", http.StatusForbidden, nil)
	var msgs []MessageJSON
	mustCall(t, ts, "GET", "/api/queues/orders/messages", admin, "", http.StatusOK, &msgs)
	if len(msgs) != 2 {
		t.Fatalf("admin browsed %d messages, want 2", len(msgs))
	}
	mustCall(t, ts, "POST", "/api/queues/locked/messages", admin, `{"body":"no"}`, http.StatusForbidden, nil)
	mustCall(t, ts, "POST", "/api/queues/orders/messages", admin, `{"body":"yes"}`, http.StatusCreated, nil)
	if q, _ := b.Queue("locked"); q.Messages != 0 {
		t.Fatalf("a refused send left %d messages in locked", q.Messages)
	}
}
