package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"tandem/internal/broker"
)

// The console names a queue in the query (/queue?name=orders), never in
// the path: a queue name may hold '/', '#', '?' or be "..", which a path
// segment cannot carry through every browser (they resolve ".." and
// "%2E%2E" before sending). The old /queues/NAME pages redirect there.

// queueHref is the console page of a queue.
func queueHref(name string) template.URL {
	return template.URL("/queue?name=" + url.QueryEscape(name))
}

// queueAction is the URL of an action (purge, delete, send) on a queue.
func queueAction(name, action string) template.URL {
	return template.URL("/queue/" + action + "?name=" + url.QueryEscape(name))
}

func (s *Server) queueRoutes(mux *http.ServeMux) {
	mux.Handle("GET /queues", s.console(false, s.queuesPage))
	mux.Handle("GET /queue", s.console(false, s.queuePage))
	mux.Handle("GET /queue/purge", s.console(true, s.confirmPage("Purge", "purge")))
	mux.Handle("GET /queue/delete", s.console(true, s.confirmPage("Delete", "delete")))
	mux.Handle("POST /queue/purge", s.console(true, s.purgeForm))
	mux.Handle("POST /queue/delete", s.console(true, s.deleteForm))
	mux.Handle("POST /queue/send", s.console(true, s.sendForm))
	// Links of earlier versions, and URLs people type.
	mux.HandleFunc("GET /queues/{name}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, string(queueHref(r.PathValue("name"))), http.StatusMovedPermanently)
	})
}

func (s *Server) queuesPage(w http.ResponseWriter, _ *http.Request, pg *page) {
	pg.Title = "Queues"
	if b := s.opts.Node.Broker(); b != nil {
		paging := pagingAddresses(b)
		for _, q := range b.Queues() {
			pg.Queues = append(pg.Queues, s.queueJSON(q, paging))
		}
	} else {
		pg.NotLive = true
	}
	s.render(w, http.StatusOK, "queues", pg)
}

// consolePageMessages is how many messages a queue page shows.
const consolePageMessages = 50

func (s *Server) queuePage(w http.ResponseWriter, r *http.Request, pg *page) {
	b := s.opts.Node.Broker()
	if b == nil {
		pg.Title, pg.NotLive = "Queues", true
		s.render(w, http.StatusOK, "queues", pg)
		return
	}
	q, err := b.Queue(r.URL.Query().Get("name"))
	if err != nil {
		pg.Title, pg.Error = "Queues", err.Error()
		s.render(w, http.StatusNotFound, "queues", pg)
		return
	}
	pg.Title, pg.Queue = "Queue "+q.Name, s.queueJSON(q, pagingAddresses(b))
	for _, c := range b.Consumers() {
		if c.Queue == q.Name {
			pg.Consumers = append(pg.Consumers, consumerJSON(c))
		}
	}
	var items []broker.BrowseItem
	if err = b.Authorize(pg.User, pg.Roles, broker.PermBrowse, q.Address); err == nil {
		items, err = b.BrowseQueue(q.Name, consolePageMessages+1)
	}
	if err != nil {
		pg.Error = err.Error()
	}
	if len(items) > consolePageMessages {
		items, pg.MoreMessages = items[:consolePageMessages], true
	}
	for _, it := range items {
		pg.Messages = append(pg.Messages, s.messageJSON(b, it))
	}
	s.render(w, http.StatusOK, "queue", pg)
}

// confirmPage asks before a purge or delete; the POST does the work.
func (s *Server) confirmPage(verb, action string) consoleHandler {
	return func(w http.ResponseWriter, r *http.Request, pg *page) {
		name := r.URL.Query().Get("name")
		pg.Title = verb + " queue " + name
		pg.Confirm = fmt.Sprintf("%s queue %s? This removes its waiting messages for good.", verb, name)
		if action == "delete" {
			pg.Confirm = fmt.Sprintf("Delete queue %s with all its messages? Its consumers are disconnected from it.", name)
		}
		pg.Action = queueAction(name, action)
		pg.Back = queueHref(name)
		s.render(w, http.StatusOK, "confirm", pg)
	}
}

// formBroker returns the broker for a console change, or renders the
// refusal of a node that is not live.
func (s *Server) formBroker(w http.ResponseWriter, pg *page) (Broker, bool) {
	b, err := s.liveBroker()
	if err != nil {
		pg.Title, pg.Error = "Refused", "Refused: "+err.Error()
		s.render(w, http.StatusConflict, "node", pg)
		return nil, false
	}
	return b, true
}

// redirectFlash redirects to a console URL (which may carry a query)
// with a one-line message for the next page.
func redirectFlash(w http.ResponseWriter, r *http.Request, to, flash string) {
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	http.Redirect(w, r, to+sep+"flash="+url.QueryEscape(flash), http.StatusSeeOther)
}

func (s *Server) purgeForm(w http.ResponseWriter, r *http.Request, pg *page) {
	b, ok := s.formBroker(w, pg)
	if !ok {
		return
	}
	name := r.URL.Query().Get("name")
	n, err := b.PurgeQueue(name)
	if err != nil {
		pg.Title, pg.Error = "Purge failed", err.Error()
		s.render(w, statusFor(err), "node", pg)
		return
	}
	s.log.Info("queue purged through the console", "event", "queue_purged", "queue", name, "removed", n, "user", pg.User)
	redirectFlash(w, r, string(queueHref(name)), fmt.Sprintf("Purged %d messages from %s.", n, name))
}

func (s *Server) deleteForm(w http.ResponseWriter, r *http.Request, pg *page) {
	b, ok := s.formBroker(w, pg)
	if !ok {
		return
	}
	name := r.URL.Query().Get("name")
	if err := b.DeleteQueue(name); err != nil {
		pg.Title, pg.Error = "Delete failed", err.Error()
		s.render(w, statusFor(err), "node", pg)
		return
	}
	s.log.Info("queue deleted through the console", "event", "queue_deleted", "queue", name, "user", pg.User)
	redirectFlash(w, r, "/queues", "Deleted queue "+name+".")
}

func (s *Server) sendForm(w http.ResponseWriter, r *http.Request, pg *page) {
	b, ok := s.formBroker(w, pg)
	if !ok {
		return
	}
	q, err := b.Queue(r.URL.Query().Get("name"))
	if err != nil {
		pg.Title, pg.Error = "Send failed", err.Error()
		s.render(w, statusFor(err), "node", pg)
		return
	}
	durable := r.PostFormValue("durable") != ""
	req := SendRequest{Body: r.PostFormValue("body"), Durable: &durable, Headers: map[string]string{}}
	for _, line := range strings.Split(r.PostFormValue("headers"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, found := strings.Cut(line, ":")
		if !found {
			pg.Title, pg.Error = "Send failed", fmt.Sprintf("header line %q is not key: value", strings.TrimSpace(line))
			s.render(w, http.StatusBadRequest, "node", pg)
			return
		}
		req.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	m, err := req.message(q, s.opts.Now())
	if err == nil {
		err = b.Authorize(pg.User, pg.Roles, broker.PermSend, q.Address)
	}
	if err == nil {
		err = b.SendMessage(m)
	}
	if err != nil {
		pg.Title, pg.Error = "Send failed", err.Error()
		s.render(w, http.StatusBadRequest, "node", pg)
		return
	}
	s.log.Info("test message sent through the console", "event", "message_sent", "address", m.Address, "user", pg.User)
	redirectFlash(w, r, string(queueHref(q.Name)), "Sent a message to "+m.Address+".")
}
