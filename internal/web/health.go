package web

import "net/http"

// healthJSON is the body of /healthz and /readyz.
type healthJSON struct {
	Status string `json:"status"`
	Role   string `json:"role"`
	State  string `json:"state"`
}

// ready reports whether the node is live and serving clients: the one node
// of a pair a load balancer should route to.
func (s *Server) ready(st NodeStatus) bool {
	return st.Role == RoleLive && s.opts.Node.Broker() != nil
}

// healthz answers 200 whenever the process can answer at all.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	st := s.opts.Node.Status()
	writeJSON(w, http.StatusOK, healthJSON{Status: "up", Role: st.Role, State: st.State})
}

// readyz answers 200 only on the live, serving node and 503 elsewhere.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	st := s.opts.Node.Status()
	if s.ready(st) {
		writeJSON(w, http.StatusOK, healthJSON{Status: "ready", Role: st.Role, State: st.State})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, healthJSON{Status: "not ready", Role: st.Role, State: st.State})
}
