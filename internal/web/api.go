package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tandem/internal/broker"
	"tandem/internal/message"
)

// NodeJSON is the body of GET /api/node.
type NodeJSON struct {
	Name               string   `json:"name"`
	Version            string   `json:"version"`
	NodeID             string   `json:"nodeId"`
	Role               string   `json:"role"`
	Ready              bool     `json:"ready"`
	HAPolicy           string   `json:"haPolicy"`
	State              string   `json:"state"`
	StateSince         string   `json:"stateSince,omitempty"`
	StateDetail        string   `json:"stateDetail,omitempty"`
	Epoch              uint64   `json:"epoch"`
	LiveName           string   `json:"liveName,omitempty"`
	Backups            []string `json:"backups"`
	FailoverOnShutdown bool     `json:"failoverOnShutdown"`
	AllowFailback      bool     `json:"allowFailback"`
	Activations        uint64   `json:"activations"`
	Started            string   `json:"started"`
	UptimeSeconds      float64  `json:"uptimeSeconds"`
	ServingSince       string   `json:"servingSince,omitempty"`
	JournalDirectory   string   `json:"journalDirectory"`
	JournalDiskBytes   int64    `json:"journalDiskBytes"`
	JournalFiles       int      `json:"journalFiles"`
	// Pair is this node and the others of its pair it knows of, the live
	// first; Events its HA events, oldest first; LastTakeover and
	// LastFailback the latest of those among them.
	Pair         []PeerJSON  `json:"pair"`
	Events       []EventJSON `json:"events"`
	LastTakeover *EventJSON  `json:"lastTakeover,omitempty"`
	LastFailback *EventJSON  `json:"lastFailback,omitempty"`
}

// QueueJSON is one queue in /api/queues and /api/queues/{name}.
type QueueJSON struct {
	Name                 string  `json:"name"`
	Address              string  `json:"address"`
	RoutingType          string  `json:"routingType"`
	Durable              bool    `json:"durable"`
	Temporary            bool    `json:"temporary"`
	AutoCreated          bool    `json:"autoCreated"`
	Filter               string  `json:"filter,omitempty"`
	Exclusive            bool    `json:"exclusive"`
	LastValue            bool    `json:"lastValue"`
	MessageCount         int     `json:"messageCount"`
	ScheduledCount       int     `json:"scheduledCount"`
	DeliveringCount      int     `json:"deliveringCount"`
	ConsumerCount        int     `json:"consumerCount"`
	MessagesAdded        uint64  `json:"messagesAdded"`
	MessagesAcknowledged uint64  `json:"messagesAcknowledged"`
	MessagesExpired      uint64  `json:"messagesExpired"`
	MessagesKilled       uint64  `json:"messagesKilled"`
	EnqueueRate          float64 `json:"enqueueRate"`
	DequeueRate          float64 `json:"dequeueRate"`
	// Paging is true while the queue's address sends new messages to page
	// files (address-full-policy PAGE, over max-size-bytes).
	Paging bool `json:"paging"`
}

// AddressJSON is one address in /api/addresses.
type AddressJSON struct {
	Name         string   `json:"name"`
	RoutingTypes []string `json:"routingTypes"`
	AutoCreated  bool     `json:"autoCreated"`
	Queues       []string `json:"queues"`
	// SizeBytes is what the address's messages in memory count towards
	// max-size-bytes (0 when it has no limit); Paging says whether new
	// messages go to page files.
	SizeBytes int64 `json:"sizeBytes"`
	Paging    bool  `json:"paging"`
}

// ConnectionJSON is one client connection in /api/connections.
type ConnectionJSON struct {
	ID           uint64 `json:"id"`
	RemoteAddr   string `json:"remoteAddress"`
	Protocol     string `json:"protocol"`
	User         string `json:"user"`
	ClientID     string `json:"clientId,omitempty"`
	Consumers    int    `json:"consumerCount"`
	Transactions int    `json:"transactionCount"`
}

// ConsumerJSON is one consumer in /api/consumers.
type ConsumerJSON struct {
	ID           uint64 `json:"id"`
	ConnectionID uint64 `json:"connectionId"`
	Queue        string `json:"queue"`
	Address      string `json:"address"`
	RemoteAddr   string `json:"remoteAddress"`
	Protocol     string `json:"protocol"`
	User         string `json:"user"`
	Filter       string `json:"filter,omitempty"`
	AckMode      string `json:"ackMode"`
	Priority     int    `json:"priority"`
	Exclusive    bool   `json:"exclusive"`
	Delivering   int    `json:"deliveringCount"`
}

// MessageJSON is one browsed message in /api/queues/{name}/messages.
type MessageJSON struct {
	ID            uint64            `json:"id"`
	Address       string            `json:"address"`
	Durable       bool              `json:"durable"`
	Priority      int               `json:"priority"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Expiration    string            `json:"expiration,omitempty"`
	DeliveryCount uint32            `json:"deliveryCount"`
	Headers       map[string]string `json:"headers"`
	BodySize      int64             `json:"bodySize"`
	// Body is the first BodyPreviewBytes of the body as text, or base64
	// of them when they are not UTF-8 (BodyEncoding says which).
	Body          string `json:"body"`
	BodyEncoding  string `json:"bodyEncoding"`
	BodyTruncated bool   `json:"bodyTruncated"`
	// Large marks a large message, whose body is kept in a file of the
	// large-messages directory; the preview is read from there.
	Large bool `json:"large"`
	// BodyError says why a large message's body could not be read.
	BodyError string `json:"bodyError,omitempty"`
}

// BodyPreviewBytes bounds the body shown per browsed message.
const BodyPreviewBytes = 4096

// CreateQueueRequest is the body of POST /api/queues.
type CreateQueueRequest struct {
	Name        string `json:"name"`
	Address     string `json:"address"`
	RoutingType string `json:"routingType"`
	Durable     *bool  `json:"durable"`
	Filter      string `json:"filter"`
}

// SendRequest is the body of POST /api/queues/{name}/messages.
type SendRequest struct {
	Body     string            `json:"body"`
	Headers  map[string]string `json:"headers"`
	Durable  *bool             `json:"durable"`
	Priority *int              `json:"priority"`
}

// errorJSON is the body of every error answer.
type errorJSON struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorJSON{Error: msg})
}

// statusFor maps a management error to its HTTP status.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrNotLive):
		return http.StatusServiceUnavailable
	case errors.Is(err, broker.ErrNoSuchQueue):
		return http.StatusNotFound
	case errors.Is(err, ErrNoFailover):
		return http.StatusConflict
	case errors.Is(err, broker.ErrForbidden):
		return http.StatusForbidden
	default:
		return http.StatusBadRequest
	}
}

// readOnlyOnBackup refuses a mutating call on a node that is not live
// with 409 and the node's state, before any other check of the body.
func (s *Server) mutableBroker(w http.ResponseWriter) (Broker, bool) {
	b, err := s.liveBroker()
	if err != nil {
		writeError(w, http.StatusConflict, "refused: "+err.Error()+"; management changes go to the live node")
		return nil, false
	}
	return b, true
}

func (s *Server) readableBroker(w http.ResponseWriter) (Broker, bool) {
	b, err := s.liveBroker()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return nil, false
	}
	return b, true
}

func (s *Server) nodeJSON() NodeJSON {
	st := s.opts.Node.Status()
	now := s.opts.Now()
	n := NodeJSON{
		Name: st.Name, Version: st.Version, NodeID: st.NodeID, Role: st.Role, Ready: s.ready(st),
		HAPolicy: st.HAPolicy, State: st.State, StateDetail: st.StateDetail, Epoch: st.Epoch, LiveName: st.LiveName,
		Backups: st.Backups, FailoverOnShutdown: st.FailoverOnShutdown, AllowFailback: st.AllowFailback,
		Activations: st.Activations, Started: stamp(st.Started), UptimeSeconds: now.Sub(st.Started).Seconds(),
		ServingSince: stamp(st.ServingSince), JournalDirectory: st.JournalDirectory,
		StateSince: stamp(st.StateSince),
	}
	if n.Backups == nil {
		n.Backups = []string{}
	}
	n.Pair = pairJSON(st, n.Ready)
	n.Events, n.LastTakeover, n.LastFailback = eventsJSON(st)
	if n.Events == nil {
		n.Events = []EventJSON{}
	}
	n.JournalDiskBytes, n.JournalFiles = s.disk.usage(st.JournalDirectory)
	return n
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Server) apiNode(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, s.nodeJSON())
}

func (s *Server) apiForceFailover(w http.ResponseWriter, _ *http.Request, p principal) {
	if err := s.opts.Node.ForceFailover(); err != nil {
		writeError(w, statusFor(err), err.Error())
		return
	}
	s.log.Warn("force-failover requested through the management API", "event", "ha_force_failover", "user", p.User)
	writeJSON(w, http.StatusAccepted, map[string]string{"result": "this node is stopping; its backup takes over"})
}

// pagingAddresses returns the names of b's addresses that are paging.
func pagingAddresses(b Broker) map[string]bool {
	var m map[string]bool
	for _, a := range b.Addresses() {
		if a.Paging {
			if m == nil {
				m = make(map[string]bool)
			}
			m[a.Name] = true
		}
	}
	return m
}

func (s *Server) queueJSON(q broker.QueueInfo, paging map[string]bool) QueueJSON {
	in, out := s.rates.rates(q)
	return QueueJSON{
		Paging: paging[q.Address],
		Name:   q.Name, Address: q.Address, RoutingType: q.RoutingType.String(), Durable: q.Durable,
		Temporary: q.Temporary, AutoCreated: q.AutoCreated, Filter: q.Filter, Exclusive: q.Exclusive,
		LastValue: q.LastValue, MessageCount: q.Messages, ScheduledCount: q.Scheduled,
		DeliveringCount: q.Delivering, ConsumerCount: q.Consumers, MessagesAdded: q.Stats.Added,
		MessagesAcknowledged: q.Stats.Acked, MessagesExpired: q.Stats.Expired, MessagesKilled: q.Stats.Killed,
		EnqueueRate: in, DequeueRate: out,
	}
}

func (s *Server) apiQueues(w http.ResponseWriter, _ *http.Request, _ principal) {
	b, ok := s.readableBroker(w)
	if !ok {
		return
	}
	qs := b.Queues()
	paging := pagingAddresses(b)
	out := make([]QueueJSON, 0, len(qs))
	for _, q := range qs {
		out = append(out, s.queueJSON(q, paging))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiQueue(w http.ResponseWriter, r *http.Request, _ principal) {
	b, ok := s.readableBroker(w)
	if !ok {
		return
	}
	q, err := b.Queue(r.PathValue("name"))
	if err != nil {
		writeError(w, statusFor(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.queueJSON(q, pagingAddresses(b)))
}

// decodeBody reads a small JSON body, refusing unknown fields so a typo
// in a script is an error rather than a silently ignored setting.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w; send a JSON object as docs/management.md describes", err)
	}
	return nil
}

func (s *Server) apiCreateQueue(w http.ResponseWriter, r *http.Request, p principal) {
	b, ok := s.mutableBroker(w)
	if !ok {
		return
	}
	var req CreateQueueRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	qc, err := req.config()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := b.CreateQueue(qc); err != nil {
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), "already exists") {
			status = http.StatusConflict
		}
		writeError(w, status, err.Error())
		return
	}
	s.log.Info("queue created through management", "event", "queue_created", "queue", qc.Name, "user", p.User)
	q, err := b.Queue(qc.Name)
	if err != nil {
		writeError(w, statusFor(err), err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, s.queueJSON(q, pagingAddresses(b)))
}

// config validates the request and turns it into the broker's form.
func (req CreateQueueRequest) config() (broker.QueueConfig, error) {
	if strings.TrimSpace(req.Name) == "" {
		return broker.QueueConfig{}, errors.New(`the queue needs a name: send {"name": "orders"}`)
	}
	qc := broker.QueueConfig{Name: req.Name, Address: req.Address, Durable: true, Filter: req.Filter}
	if req.Durable != nil {
		qc.Durable = *req.Durable
	}
	if req.RoutingType != "" {
		rt, ok := message.ParseRoutingType(req.RoutingType)
		if !ok {
			return qc, fmt.Errorf("routingType %q is neither ANYCAST nor MULTICAST", req.RoutingType)
		}
		qc.RoutingType = rt
	}
	return qc, nil
}

func (s *Server) apiDeleteQueue(w http.ResponseWriter, r *http.Request, p principal) {
	b, ok := s.mutableBroker(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := b.DeleteQueue(name); err != nil {
		writeError(w, statusFor(err), err.Error())
		return
	}
	s.log.Info("queue deleted through management", "event", "queue_deleted", "queue", name, "user", p.User)
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

func (s *Server) apiPurgeQueue(w http.ResponseWriter, r *http.Request, p principal) {
	b, ok := s.mutableBroker(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	n, err := b.PurgeQueue(name)
	if err != nil {
		writeError(w, statusFor(err), err.Error())
		return
	}
	s.log.Info("queue purged through management", "event", "queue_purged", "queue", name, "removed", n, "user", p.User)
	writeJSON(w, http.StatusOK, map[string]any{"queue": name, "removed": n})
}

// browseLimit reads ?limit=N (default 100, at most 1000).
func browseLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("limit %q must be a number from 1 to 1000", v)
	}
	return n, nil
}

func (s *Server) apiBrowse(w http.ResponseWriter, r *http.Request, p principal) {
	b, ok := s.readableBroker(w)
	if !ok {
		return
	}
	limit, err := browseLimit(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q, err := b.Queue(r.PathValue("name"))
	if err == nil {
		err = b.Authorize(p.User, p.Roles, broker.PermBrowse, q.Address)
	}
	if err != nil {
		writeError(w, statusFor(err), err.Error())
		return
	}
	items, err := b.BrowseQueue(q.Name, limit)
	if err != nil {
		writeError(w, statusFor(err), err.Error())
		return
	}
	out := make([]MessageJSON, 0, len(items))
	for _, it := range items {
		out = append(out, s.messageJSON(b, it))
	}
	writeJSON(w, http.StatusOK, out)
}

// messageJSON describes a browsed message. A large message's size is its
// body file's, and its preview is read from the start of that file.
func (s *Server) messageJSON(b Broker, it broker.BrowseItem) MessageJSON {
	m := it.Message
	j := MessageJSON{ID: m.ID, Address: m.Address, Durable: m.Durable, Priority: int(m.Priority),
		DeliveryCount: it.DeliveryCount, Headers: map[string]string{}, BodySize: m.BodySize()}
	if m.Timestamp != 0 {
		j.Timestamp = stamp(time.UnixMilli(m.Timestamp))
	}
	if m.Expiration != 0 {
		j.Expiration = stamp(time.UnixMilli(m.Expiration))
	}
	for k, v := range map[string]string{"content-type": m.ContentType(), "correlation-id": m.CorrelationID(),
		"reply-to": m.ReplyTo(), "type": m.Type()} {
		if v != "" {
			j.Headers[k] = v
		}
	}
	for _, p := range m.Properties {
		if _, seen := j.Headers[p.Key]; !seen { // the first occurrence wins, as in STOMP
			j.Headers[p.Key] = p.Value
		}
	}
	body := m.Body
	if l := m.Large(); l != nil {
		j.Large = true
		var err error
		if body, err = largePreview(b, l); err != nil {
			j.BodyError = err.Error()
			s.log.Warn("cannot read a large message body for the console", "event", "large_message_error", "message", m.ID, "err", err)
		}
	}
	if int64(len(body)) < j.BodySize || len(body) > BodyPreviewBytes {
		body, j.BodyTruncated = body[:min(len(body), BodyPreviewBytes)], true
	}
	if utf8.Valid(body) {
		j.Body, j.BodyEncoding = string(body), "text"
	} else {
		j.Body, j.BodyEncoding = base64Std(body), "base64"
	}
	return j
}

// largePreview reads the first BodyPreviewBytes of a large message's body.
func largePreview(b Broker, l *message.Large) ([]byte, error) {
	rc, err := b.OpenLargeBody(l)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, BodyPreviewBytes)
	n, err := io.ReadFull(rc, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return buf[:n], fmt.Errorf("read the large message body: %w", err)
	}
	return buf[:n], nil
}

func (s *Server) apiSend(w http.ResponseWriter, r *http.Request, p principal) {
	b, ok := s.mutableBroker(w)
	if !ok {
		return
	}
	var req SendRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q, err := b.Queue(r.PathValue("name"))
	if err == nil {
		err = b.Authorize(p.User, p.Roles, broker.PermSend, q.Address)
	}
	if err != nil {
		writeError(w, statusFor(err), err.Error())
		return
	}
	m, err := req.message(q, s.opts.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := b.SendMessage(m); err != nil {
		writeError(w, http.StatusInternalServerError, "the broker did not accept the message: "+err.Error())
		return
	}
	s.log.Info("test message sent through management", "event", "message_sent", "address", m.Address, "user", p.User)
	writeJSON(w, http.StatusCreated, map[string]any{"address": m.Address, "id": m.ID})
}

// message builds the message a send request describes, addressed to the
// queue's address with the queue's routing type.
func (req SendRequest) message(q broker.QueueInfo, now time.Time) (*message.Message, error) {
	m := &message.Message{Address: q.Address, RoutingType: q.RoutingType, Durable: true,
		Priority: message.DefaultPriority, Timestamp: now.UnixMilli(), Body: []byte(req.Body)}
	if req.Durable != nil {
		m.Durable = *req.Durable
	}
	if req.Priority != nil {
		if *req.Priority < 0 || *req.Priority > message.MaxPriority {
			return nil, fmt.Errorf("priority %d is out of range; use 0 to %d", *req.Priority, message.MaxPriority)
		}
		m.Priority = uint8(*req.Priority)
	}
	for k, v := range req.Headers {
		if k == "" {
			return nil, errors.New("a header name is empty")
		}
		m.Properties = append(m.Properties, message.Property{Key: k, Value: v})
	}
	return m, nil
}

func (s *Server) apiAddresses(w http.ResponseWriter, _ *http.Request, _ principal) {
	b, ok := s.readableBroker(w)
	if !ok {
		return
	}
	as := b.Addresses()
	out := make([]AddressJSON, 0, len(as))
	for _, a := range as {
		out = append(out, addressJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func addressJSON(a broker.AddressInfo) AddressJSON {
	j := AddressJSON{Name: a.Name, AutoCreated: a.AutoCreated, Queues: a.Queues, RoutingTypes: []string{},
		SizeBytes: a.SizeBytes, Paging: a.Paging}
	if j.Queues == nil {
		j.Queues = []string{}
	}
	if a.Anycast {
		j.RoutingTypes = append(j.RoutingTypes, message.Anycast.String())
	}
	if a.Multicast {
		j.RoutingTypes = append(j.RoutingTypes, message.Multicast.String())
	}
	return j
}

func (s *Server) apiConsumers(w http.ResponseWriter, _ *http.Request, _ principal) {
	b, ok := s.readableBroker(w)
	if !ok {
		return
	}
	cs := b.Consumers()
	out := make([]ConsumerJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, consumerJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func consumerJSON(c broker.ConsumerInfo) ConsumerJSON {
	return ConsumerJSON{ID: c.ID, ConnectionID: c.SessionID, Queue: c.Queue, Address: c.Address,
		RemoteAddr: c.RemoteAddr, Protocol: c.Protocol, User: c.User, Filter: c.Filter,
		AckMode: c.AckMode.String(), Priority: c.Priority, Exclusive: c.Exclusive, Delivering: c.Delivering}
}

func (s *Server) apiConnections(w http.ResponseWriter, _ *http.Request, _ principal) {
	b, ok := s.readableBroker(w)
	if !ok {
		return
	}
	cs := b.Connections()
	out := make([]ConnectionJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, connectionJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func connectionJSON(c broker.ConnectionInfo) ConnectionJSON {
	return ConnectionJSON{ID: c.ID, RemoteAddr: c.RemoteAddr, Protocol: c.Protocol, User: c.User,
		ClientID: c.ClientID, Consumers: c.Consumers, Transactions: c.Transactions}
}
