package web

import (
	"strings"
	"testing"
	"time"
)

// TestEventsName checks how the console words a process's HA history:
// a backup's takeover, a primary's failback, a backup handing back, and
// a primary taking over from another primary (Classic style).
func TestEventsName(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name         string
		st           NodeStatus
		wantKinds    string
		wantTakeover string
		wantFailback string
	}{
		{"backup takes over, then hands back", NodeStatus{Name: "slave", HAPolicy: "shared-store backup", Events: []HAEvent{
			{Time: at(0), State: "starting"},
			{Time: at(1), State: "waiting", Epoch: 3, LiveName: "master", LiveRole: "primary"},
			{Time: at(9), State: "activating", Epoch: 4, LiveName: "slave", LiveRole: "backup"},
			{Time: at(9), State: "live", Epoch: 4, LiveName: "slave", LiveRole: "backup"},
			{Time: at(30), State: "failing-back", Epoch: 4, LiveName: "slave"},
			{Time: at(31), State: "waiting", Epoch: 5, LiveName: "master"},
		}}, "started waiting other takeover handback waiting", "took over from master (epoch 4)", "handing the store back"},
		{"primary fails back", NodeStatus{Name: "master", HAPolicy: "shared-store primary", Events: []HAEvent{
			{Time: at(0), State: "starting"},
			{Time: at(1), State: "waiting", Epoch: 4, LiveName: "slave", LiveRole: "backup"},
			{Time: at(2), State: "live", Epoch: 5, LiveName: "master", LiveRole: "primary"},
		}}, "started waiting failback", "", "took the store back from slave (failback, epoch 5)"},
		{"second primary takes over", NodeStatus{Name: "b2", HAPolicy: "shared-store primary", Events: []HAEvent{
			{Time: at(0), State: "starting"},
			{Time: at(1), State: "waiting", Epoch: 1, LiveName: "b1", LiveRole: "primary"},
			{Time: at(5), State: "live", Epoch: 2, LiveName: "b2", LiveRole: "primary"},
		}}, "started waiting takeover", "took over from b1 (epoch 2)", ""},
		{"first start", NodeStatus{Name: "master", HAPolicy: "shared-store primary", Events: []HAEvent{
			{Time: at(0), State: "starting"},
			{Time: at(1), State: "live", Epoch: 1, LiveName: "master"},
		}}, "started live", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, takeover, failback := eventsJSON(tc.st)
			var kinds []string
			for _, e := range evs {
				kinds = append(kinds, e.Kind)
			}
			if got := strings.Join(kinds, " "); got != tc.wantKinds {
				t.Errorf("kinds = %s, want %s", got, tc.wantKinds)
			}
			check := func(what string, e *EventJSON, want string) {
				switch {
				case want == "" && e != nil:
					t.Errorf("%s = %q, want none", what, e.Text)
				case want != "" && (e == nil || !strings.HasPrefix(e.Text, want)):
					t.Errorf("%s = %+v, want %q", what, e, want)
				}
			}
			check("last takeover", takeover, tc.wantTakeover)
			check("last failback", failback, tc.wantFailback)
		})
	}
}

// TestPairView checks the pair on the overview of a live with an
// announced backup and of a waiting backup: a live and a waiting backup
// in both, with the epoch.
func TestPairView(t *testing.T) {
	node, _ := liveNode(t)
	node.status.Peers = []Peer{{Name: "slave", URL: "tcp://localhost:61617", Role: RoleBackup, State: "waiting", Since: time.Now()}}
	backup := backupNode(t)
	backup.status.Peers = []Peer{{Name: "master", Role: RoleLive, State: "live"}}
	for _, n := range []*fakeNode{node, backup} {
		ts := serve(t, n)
		c := browserClient(t)
		login(t, c, ts.URL, "admin", "secret")
		_, _, page := get(t, c, ts.URL+"/")
		for _, want := range []string{`class="node node-live`, `data-role="live" data-state="live"`, `class="node node-backup`,
			`data-role="backup" data-state="waiting"`, "epoch 7", `id="last-takeover"`} {
			if !strings.Contains(page, want) {
				t.Errorf("%s's overview lacks %q", n.status.Name, want)
			}
		}
		_, _, frag := get(t, c, ts.URL+"/?fragment=pair")
		if !strings.HasPrefix(strings.TrimSpace(frag), `<div id="pair" data-fragment="pair">`) || strings.Contains(frag, "<html") {
			t.Errorf("the pair fragment is not the pair alone:\n%.300s", frag)
		}
	}
}

// TestConsoleNeedsNothingFromElsewhere checks that the pages load their
// script and style from the broker itself, under a policy that forbids
// anything else.
func TestConsoleNeedsNothingFromElsewhere(t *testing.T) {
	node, _ := liveNode(t)
	ts := serve(t, node)
	c := browserClient(t)
	login(t, c, ts.URL, "admin", "secret")
	resp, err := c.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("Content-Security-Policy = %q", csp)
	}
	_, _, page := get(t, c, ts.URL+"/")
	for _, ref := range []string{`src="/static/console.js"`, `href="/static/style.css"`} {
		if !strings.Contains(page, ref) {
			t.Errorf("the page does not load %s", ref)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page refers to another site")
	}
	for _, path := range []string{"/static/console.js", "/static/style.css", "/static/favicon.svg"} {
		if status, _, body := get(t, c, ts.URL+path); status != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d", path, status)
		}
	}
}
