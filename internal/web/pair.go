package web

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The console's picture of a shared-store pair: this node and the nodes it
// knows of (the backups announced to a live, the live named by the store
// for a waiting node), the store's epoch, and the last takeover and
// failback this process saw.

// Peer is another node of the pair, as this node knows it.
type Peer struct {
	Name string
	// URL is its client URL, "" when unknown.
	URL string
	// Role is RoleLive or RoleBackup; State the HA state this node
	// believes it is in ("waiting" for an announced backup).
	Role, State string
	// Since is when this node learned it (an announcement), zero when
	// unknown.
	Since time.Time
}

// HAEvent is one HA state change of this process.
type HAEvent struct {
	Time  time.Time
	State string
	Epoch uint64
	// LiveName and LiveRole are the live node and its role ("primary",
	// "backup") as the store's record named them at the time.
	LiveName, LiveRole string
	Detail             string
}

// PeerJSON is a node of the pair in /api/node.
type PeerJSON struct {
	Name  string `json:"name"`
	URL   string `json:"url,omitempty"`
	Role  string `json:"role"`
	State string `json:"state"`
	Since string `json:"since,omitempty"`
	// Self marks this node.
	Self bool `json:"self,omitempty"`
	// Note says what Since is, for people: "since 12:00:01", "announced
	// 12:00:03".
	Note string `json:"note,omitempty"`
}

// EventJSON is an HA event in /api/node.
type EventJSON struct {
	Time   string `json:"time"`
	Kind   string `json:"kind"` // started, waiting, takeover, failback, handback, live, stopped, other
	Text   string `json:"text"`
	Epoch  uint64 `json:"epoch"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// pairJSON builds the nodes of the pair from st, the live first.
func pairJSON(st NodeStatus, ready bool) []PeerJSON {
	self := PeerJSON{Name: st.Name, Role: st.Role, State: st.State, Since: stamp(st.StateSince), Self: true}
	if st.Role == RoleLive && !ready {
		self.State = "starting"
	}
	if !st.StateSince.IsZero() {
		self.Note = "since " + st.StateSince.Local().Format("15:04:05")
	}
	out := []PeerJSON{self}
	for _, p := range st.Peers {
		pj := PeerJSON{Name: p.Name, URL: p.URL, Role: p.Role, State: p.State, Since: stamp(p.Since)}
		switch {
		case p.Since.IsZero() && p.Role == RoleLive:
			pj.Note = "as the store says; this node is not announced to it"
		case p.Since.IsZero():
		case st.Role == RoleLive:
			pj.Note = "announced itself at " + p.Since.Local().Format("15:04:05")
		default:
			pj.Note = "this node announced itself to it at " + p.Since.Local().Format("15:04:05")
		}
		out = append(out, pj)
	}
	// The live first, so the picture reads the same on every node.
	slices.SortStableFunc(out, func(a, b PeerJSON) int {
		return cmp.Compare(boolRank(a.Role != RoleLive), boolRank(b.Role != RoleLive))
	})
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// eventsJSON words the process's HA events for people, oldest first, and
// returns the latest takeover and failback among them.
func eventsJSON(st NodeStatus) (events []EventJSON, takeover, failback *EventJSON) {
	backupPolicy := strings.Contains(st.HAPolicy, "backup")
	// prev is the last event that named another node live: activating
	// may already name this node, so the node it took over from is the
	// one named before.
	prev := HAEvent{}
	for i, ev := range st.Events {
		e := EventJSON{Time: stamp(ev.Time), Epoch: ev.Epoch, State: ev.State, Detail: ev.Detail, Kind: "other"}
		other := prev.LiveName != "" && prev.LiveName != st.Name
		switch {
		case i == 0:
			e.Kind, e.Text = "started", "process started ("+ev.State+")"
		case ev.State == "live" && other && backupPolicy:
			e.Kind, e.Text = "takeover", fmt.Sprintf("took over from %s (epoch %d)", prev.LiveName, ev.Epoch)
		case ev.State == "live" && other && prev.LiveRole == "backup":
			e.Kind, e.Text = "failback", fmt.Sprintf("took the store back from %s (failback, epoch %d)", prev.LiveName, ev.Epoch)
		case ev.State == "live" && other:
			e.Kind, e.Text = "takeover", fmt.Sprintf("took over from %s (epoch %d)", prev.LiveName, ev.Epoch)
		case ev.State == "live":
			e.Kind, e.Text = "live", fmt.Sprintf("became live (epoch %d)", ev.Epoch)
		case ev.State == "failing-back":
			e.Kind, e.Text = "handback", "handing the store back to the primary (failback)"
		case ev.State == "store-paused":
			e.Kind, e.Text = "waiting", "store paused: its last live stopped without failover; waiting for a primary"
		case ev.State == "waiting" || ev.State == "queued":
			e.Kind, e.Text = "waiting", ev.State
			if ev.LiveName != "" && ev.LiveName != st.Name {
				e.Text += "; " + ev.LiveName + " is live"
			}
		case ev.State == "stopping" || ev.State == "fenced":
			e.Kind, e.Text = "stopped", ev.State
		default:
			e.Text = ev.State
		}
		events = append(events, e)
		switch e.Kind {
		case "takeover":
			takeover = &events[len(events)-1]
		case "failback", "handback":
			failback = &events[len(events)-1]
		}
		switch {
		case ev.State == "live":
			prev = HAEvent{}
		case ev.LiveName != "" && ev.LiveName != st.Name:
			prev = ev
		}
	}
	// The pointers point into events, which no longer grows: copy them so
	// the caller may keep them.
	if takeover != nil {
		t := *takeover
		takeover = &t
	}
	if failback != nil {
		f := *failback
		failback = &f
	}
	return events, takeover, failback
}
