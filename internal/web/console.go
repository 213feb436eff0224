package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

//go:embed templates/*.html static/*
var assets embed.FS

// pageNames are the console's pages; each is parsed with the layout.
var pageNames = []string{"login", "node", "queues", "queue", "confirm", "addresses", "consumers", "connections"}

var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"queueHref":   queueHref,
		"queueAction": queueAction,
		"join":        strings.Join,
		"bytes":       humanBytes,
		"uptime":      func(s float64) string { return shortDuration(time.Duration(s * float64(time.Second))) },
		"ago":         ago,
		"preview":     previewLine,
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return "1 " + one
			}
			return fmt.Sprintf("%d %s", n, many)
		},
		"clock": clock,
		"rate": func(f float64) string {
			return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", f), "0"), ".")
		},
		"chart": func(id, kind string, src any, caption string) chartSpec {
			return chartSpec{ID: id, Kind: kind, Src: template.URL(fmt.Sprint(src)), Caption: caption}
		},
		"queueHistory": func(name string) template.URL {
			return template.URL("/api/history?queue=" + url.QueryEscape(name))
		},
		"since": func(s string) string {
			if s == "" {
				return "start"
			}
			return ago(s)
		},
	}
	out := make(map[string]*template.Template, len(pageNames))
	for _, p := range pageNames {
		out[p] = template.Must(template.New(p).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+p+".html"))
	}
	return out
}()

// page is the data every console page gets.
type page struct {
	Title   string
	Node    NodeJSON
	User    string
	Roles   []string // the user's roles, for permission checks
	CSRF    string
	Manage  bool
	Flash   string
	Error   string
	NotLive bool
	// Local marks an anonymous caller on this machine (LocalAnonymous):
	// there is no session to log out of.
	Local bool

	Next         string
	Queues       []QueueJSON
	Queue        QueueJSON
	Messages     []MessageJSON
	MoreMessages bool
	Addresses    []AddressJSON
	Consumers    []ConsumerJSON
	Connections  []ConnectionJSON
	Confirm      string
	Action       template.URL
	Back         template.URL

	// Page names the page for the script (body data-page).
	Page string
	// Fragment, when set, renders only that part of the page, for the
	// script to refresh it in place (?fragment=NAME).
	Fragment string
	// Totals are the broker's figures at a glance (node page).
	Totals    totals
	TopQueues []QueueJSON
}

// chartSpec is one chart of a page: the script draws it from Src.
type chartSpec struct {
	ID, Kind, Caption string
	Src               template.URL
}

// totals are the overview's tiles.
type totals struct {
	Queues, Depth, InFlight, Consumers, Connections int
	In, Out                                         float64
}

// fragments lists, per page, the parts the script may ask for alone.
var fragments = map[string][]string{
	"node":   {"pair", "tiles", "top-queues"},
	"queues": {"queue-rows"},
	"queue":  {"queue-facts", "queue-consumers"},
}

// consoleHandler is a console page handler for a logged-in user.
type consoleHandler func(w http.ResponseWriter, r *http.Request, pg *page)

func (s *Server) consoleRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "static") // the embedded tree always has it
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("POST /logout", s.console(false, s.logout))
	mux.Handle("GET /{$}", s.console(false, s.nodePage))
	s.queueRoutes(mux)
	mux.Handle("GET /force-failover", s.console(true, s.failoverConfirm))
	mux.Handle("POST /force-failover", s.console(true, s.failoverForm))
	mux.Handle("GET /addresses", s.console(false, s.addressesPage))
	mux.Handle("GET /consumers", s.console(false, s.consumersPage))
	mux.Handle("GET /connections", s.console(false, s.connectionsPage))
}

// console wraps a page handler: a visitor without a session goes to the
// login page; a change needs the manage role and, for POSTs, the form
// token of the session.
func (s *Server) console(mutates bool, h consoleHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		pg := &page{Node: s.nodeJSON(), User: p.User, Roles: p.Roles, CSRF: p.CSRF, Manage: p.canManage(),
			Flash: r.URL.Query().Get("flash"), Local: p.local, Fragment: r.URL.Query().Get("fragment")}
		if mutates && !p.canManage() {
			pg.Title, pg.Error = "Forbidden", errNeedManage.Error()+"; user "+p.User+" lacks it"
			s.render(w, http.StatusForbidden, "node", pg)
			return
		}
		if mutates && r.Method == http.MethodPost {
			err := checkCSRF(r, p)
			if err == nil && p.local {
				err = sameSite(r)
			}
			if err != nil {
				pg.Title, pg.Error = "Forbidden", err.Error()
				s.render(w, http.StatusForbidden, "node", pg)
				return
			}
		}
		h(w, r, pg)
	})
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, pg *page) {
	var buf bytes.Buffer
	tmpl := "layout"
	if pg.Fragment != "" && slices.Contains(fragments[name], pg.Fragment) {
		tmpl = pg.Fragment
	}
	if pg.Page == "" {
		pg.Page = name
	}
	if err := pages[name].ExecuteTemplate(&buf, tmpl, pg); err != nil {
		s.log.Error("console page failed", "event", "web_template_error", "page", name, "err", err)
		http.Error(w, "the console page failed to render; see the broker log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login", &page{Title: "Log in", Node: s.nodeJSON(), Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	user, pass := r.PostFormValue("user"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	roles, err := s.opts.Auth.Authenticate(user, pass)
	if user == "" || err != nil {
		s.log.Info("console login refused", "event", "web_login_failed", "user", user, "remote", r.RemoteAddr)
		s.render(w, http.StatusUnauthorized, "login", &page{Title: "Log in", Node: s.nodeJSON(), Next: next,
			Error: "Login failed: the user name or password is wrong."})
		return
	}
	p := principal{User: user, Roles: roles}
	if ul, ok := s.opts.Auth.(UserLookup); ok {
		_, p.stamp, _ = ul.Lookup(user)
	}
	id := s.sessions.create(p)
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	s.log.Info("console login", "event", "web_login", "user", user, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, pg *page) {
	if c, err := r.Cookie(cookieName(r)); err == nil {
		s.sessions.remove(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// topQueues is how many queues the overview lists, deepest first.
const topQueues = 6

func (s *Server) nodePage(w http.ResponseWriter, _ *http.Request, pg *page) {
	pg.Title = "Overview"
	if b := s.opts.Node.Broker(); b != nil {
		paging := pagingAddresses(b)
		for _, q := range b.Queues() {
			qj := s.queueJSON(q, paging)
			pg.Totals.Queues++
			pg.Totals.Depth += qj.MessageCount
			pg.Totals.InFlight += qj.DeliveringCount
			pg.Totals.Consumers += qj.ConsumerCount
			pg.Totals.In += qj.EnqueueRate
			pg.Totals.Out += qj.DequeueRate
			pg.TopQueues = append(pg.TopQueues, qj)
		}
		pg.Totals.Connections = len(b.Connections())
		slices.SortStableFunc(pg.TopQueues, func(a, b QueueJSON) int { return b.MessageCount - a.MessageCount })
		pg.TopQueues = pg.TopQueues[:min(len(pg.TopQueues), topQueues)]
	} else {
		pg.NotLive = true
	}
	s.render(w, http.StatusOK, "node", pg)
}

// previewLine is the start of a body on one line, for a table cell.
func previewLine(body string) string {
	line := strings.Join(strings.Fields(body), " ")
	if r := []rune(line); len(r) > 80 {
		line = string(r[:80]) + "…"
	}
	if line == "" {
		return "(empty)"
	}
	return line
}

// ago formats an RFC 3339 time as the time of day and how long ago it was.
func ago(stamp string) string {
	t, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return stamp
	}
	return t.Local().Format("15:04:05") + " (" + shortDuration(time.Since(t)) + " ago)"
}

// clock formats an RFC 3339 time as the time of day.
func clock(stamp string) string {
	t, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return stamp
	}
	return t.Local().Format("15:04:05")
}

// shortDuration rounds d for people: 45s, 12m30s, 3h05m, 2d4h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func (s *Server) failoverConfirm(w http.ResponseWriter, _ *http.Request, pg *page) {
	pg.Title = "Force failover"
	pg.Confirm = "Stop this live node so that its backup takes over? Clients with a failover URL move to the backup."
	pg.Action, pg.Back = "/force-failover", "/"
	s.render(w, http.StatusOK, "confirm", pg)
}

func (s *Server) failoverForm(w http.ResponseWriter, r *http.Request, pg *page) {
	if err := s.opts.Node.ForceFailover(); err != nil {
		pg.Title, pg.Error = "Force failover refused", err.Error()
		s.render(w, statusFor(err), "node", pg)
		return
	}
	s.log.Warn("force-failover requested through the console", "event", "ha_force_failover", "user", pg.User)
	redirectFlash(w, r, "/", "This node is stopping; its backup takes over.")
}

func (s *Server) addressesPage(w http.ResponseWriter, _ *http.Request, pg *page) {
	s.listPage(w, pg, "Addresses", "addresses", func(b Broker) {
		for _, a := range b.Addresses() {
			pg.Addresses = append(pg.Addresses, addressJSON(a))
		}
	})
}

func (s *Server) consumersPage(w http.ResponseWriter, _ *http.Request, pg *page) {
	s.listPage(w, pg, "Consumers", "consumers", func(b Broker) {
		for _, c := range b.Consumers() {
			pg.Consumers = append(pg.Consumers, consumerJSON(c))
		}
	})
}

func (s *Server) connectionsPage(w http.ResponseWriter, _ *http.Request, pg *page) {
	s.listPage(w, pg, "Connections", "connections", func(b Broker) {
		for _, c := range b.Connections() {
			pg.Connections = append(pg.Connections, connectionJSON(c))
		}
	})
}

// listPage renders a page listing what fill reads from the serving broker,
// or the not-live notice on a node that serves none.
func (s *Server) listPage(w http.ResponseWriter, pg *page, title, name string, fill func(Broker)) {
	pg.Title = title
	if b := s.opts.Node.Broker(); b != nil {
		fill(b)
	} else {
		pg.NotLive = true
	}
	s.render(w, http.StatusOK, name, pg)
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
