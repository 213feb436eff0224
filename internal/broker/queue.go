package broker

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Ref states: where a ref currently is.
const (
	refReady     uint8 = iota // in a priority level, waiting for a consumer
	refScheduled              // in the scheduled heap
	refInflight               // delivered, awaiting acknowledgement
	refDone                   // acknowledged, expired, moved or purged
)

// queue holds references to messages for its consumers. See the package
// comment for the locking rules; every method ending in Locked requires
// q.mu.
type queue struct {
	b *Broker

	id           uint64
	name         string
	address      string
	addr         *address // the address whose queue it is
	rt           message.RoutingType
	durable      bool
	temporary    bool
	autoCreated  bool
	configured   bool
	filterText   string
	filter       Filter
	maxConsumers int
	exclusive    bool
	lastValue    bool
	lvKey        string
	// owner, when set, is the session whose end deletes this queue
	// (temporary queues and non-durable subscriptions).
	owner *Session
	// subscription marks a named subscription queue (Session.Subscribe with
	// a Subscription); shared ones admit several consumers, and volatile
	// (non-durable) ones go with their last consumer. Guarded by mu.
	subscription, shared, volatile bool

	mu      sync.Mutex
	levels  [message.MaxPriority + 1]refList
	ready   int
	sched   refHeap
	timer   *time.Timer
	timerAt int64
	lv      map[string]*ref
	groups  map[string]*Consumer
	// excluded lists, for the few refs that have any, the consumers they
	// may never go to again (settle.go).
	excluded   map[*ref][]*Consumer
	consumers  []*Consumer
	rr         int
	delivering int
	// mayExpire is set when a ref whose message has an expiration starts
	// waiting, and cleared by an expiry scan that finds none waiting, so
	// that the scan, which walks every waiting ref under the lock, costs
	// nothing for a queue of messages that never expire (nearly all).
	mayExpire bool
	deleted   bool
	// closed is set when the broker closes: nothing more is enqueued,
	// dispatched or acknowledged, and what is in the store stays there.
	closed bool
	// hadConsumer and idleSince (Unix ms the last consumer left) drive
	// auto-delete: only a queue that has been consumed from and then left
	// alone is deleted, as in Artemis.
	hadConsumer bool
	idleSince   int64

	// sending counts routed messages of an auto-created queue that are not
	// yet in it (waiting for the journal or a transaction); auto-delete
	// leaves such a queue alone so that no confirmed send lands in a
	// deleted queue. Only auto-created queues pay for the counter.
	sending atomic.Int32

	// Work collected under mu and carried out by unlock, after mu is
	// released, so a queue never writes to the store or routes to another
	// queue while holding its lock.
	pending store.Batch
	moves   []move

	// scratch is a packed solo's message with its properties unpacked, for
	// a selector to read (viewLocked).
	scratch      message.Message
	scratchProps []message.Property

	stats QueueStats
}

// QueueStats are a queue's counters since start.
type QueueStats struct {
	Added   uint64
	Acked   uint64
	Expired uint64
	Killed  uint64
}

type moveKind uint8

const (
	moveExpired moveKind = iota + 1
	moveDeadLetter
)

type move struct {
	r    *ref
	kind moveKind
	// reason, when set, is the dead-letter reason instead of the kind's.
	reason string
}

func (q *queue) lock() { q.mu.Lock() }

// unlock releases q.mu and then performs the store writes and moves that
// were collected while it was held.
func (q *queue) unlock() {
	if q.pending.Len() == 0 && len(q.moves) == 0 {
		q.mu.Unlock()
		return
	}
	b := q.pending
	q.pending = store.Batch{}
	moves := q.moves
	q.moves = nil
	q.mu.Unlock()
	if b.Len() > 0 {
		done, sync := q.b.withBodyReleases(&b, false, q.b.logStoreError)
		q.b.store.Commit(&b, sync, done)
	}
	if len(moves) > 0 {
		// Moves may create the target address and wait for the store; unlock
		// can run inside a store completion callback, which must never wait
		// for the store, so moves always run on a goroutine of their own.
		q.b.wg.Add(1)
		go func() {
			defer q.b.wg.Done()
			for _, mv := range moves {
				q.b.moveRef(mv)
			}
		}()
	}
}

func (q *queue) readyPriority(m *message.Message) int {
	p := int(m.Priority)
	if p > message.MaxPriority {
		p = message.MaxPriority
	}
	return p
}

// enqueueLocked adds a new ref at the tail of its priority level, or to the
// scheduled heap when it is not due yet.
func (q *queue) enqueueLocked(r *ref, now int64) {
	q.stats.Added++
	if q.lastValue {
		q.replaceLastValueLocked(r)
	}
	if r.msg().Expiration > 0 {
		q.mayExpire = true
	}
	if r.readyAt() > now {
		q.scheduleLocked(r)
		return
	}
	r.state = refReady
	q.levels[q.readyPriority(r.msg())].pushBack(r)
	q.ready++
}

// requeueLocked puts a returned ref back at the head of its level, so a
// redelivery goes out before newer messages.
func (q *queue) requeueLocked(r *ref) {
	if r.msg().Expiration > 0 {
		q.mayExpire = true
	}
	r.state = refReady
	q.levels[q.readyPriority(r.msg())].pushFront(r)
	q.ready++
}

func (q *queue) replaceLastValueLocked(r *ref) {
	key := q.lvKey
	if key == "" {
		key = message.PropLastValue
	}
	v, ok := r.property(key)
	if !ok {
		return
	}
	if q.lv == nil {
		q.lv = map[string]*ref{}
	}
	if old := q.lv[v]; old != nil {
		switch old.state {
		case refReady:
			q.levels[q.readyPriority(old.msg())].remove(old)
			q.ready--
			q.finishLocked(old)
		case refScheduled:
			if i := q.sched.index(old); i >= 0 {
				heap.Remove(&q.sched, i)
			}
			q.finishLocked(old)
		}
	}
	q.lv[v] = r
}

// finishLocked marks a ref done and records its acknowledgement in the
// pending batch.
func (q *queue) finishLocked(r *ref) {
	r.state = refDone
	q.forgetExcludedLocked(r)
	q.stats.Acked++
	if q.lastValue {
		q.forgetLastValueLocked(r)
	}
	q.b.ackOp(&q.pending, r)
}

func (q *queue) forgetLastValueLocked(r *ref) {
	key := q.lvKey
	if key == "" {
		key = message.PropLastValue
	}
	if v, ok := r.property(key); ok && q.lv[v] == r {
		delete(q.lv, v)
	}
}

func (q *queue) scheduleLocked(r *ref) {
	if r.msg().Expiration > 0 {
		q.mayExpire = true
	}
	r.state = refScheduled
	heap.Push(&q.sched, r)
	q.armTimerLocked()
}

func (q *queue) armTimerLocked() {
	if len(q.sched) == 0 || q.deleted || q.closed {
		return
	}
	at := q.sched[0].stamp
	if q.timer != nil && q.timerAt <= at && q.timerAt != 0 {
		return
	}
	d := time.Duration(at-q.b.nowMs()) * time.Millisecond
	if d < 0 {
		d = 0
	}
	if q.timer != nil {
		q.timer.Stop()
	}
	q.timerAt = at
	q.timer = time.AfterFunc(d, q.onTimer)
}

func (q *queue) onTimer() {
	q.lock()
	q.timer = nil
	q.timerAt = 0
	q.promoteDueLocked(q.b.nowMs())
	q.armTimerLocked()
	q.dispatchLocked()
	q.unlock()
}

// promoteDueLocked moves scheduled refs whose time has come to the ready
// levels.
func (q *queue) promoteDueLocked(now int64) {
	for len(q.sched) > 0 && q.sched[0].stamp <= now {
		r := heap.Pop(&q.sched).(*ref)
		r.stamp = 0
		if r.deliveryCount > 0 {
			q.requeueLocked(r)
		} else {
			r.state = refReady
			q.levels[q.readyPriority(r.msg())].pushBack(r)
			q.ready++
		}
	}
}

// dispatchLocked hands ready refs to consumers with credit, highest
// priority first, until refs or credit run out.
func (q *queue) dispatchLocked() {
	if q.ready == 0 || len(q.consumers) == 0 || q.deleted || q.closed {
		return
	}
	q.dispatchAtLocked(q.b.nowMs())
}

// dispatchAtLocked is dispatchLocked at time now, for a caller that has
// just read the clock.
func (q *queue) dispatchAtLocked(now int64) {
	if q.ready == 0 || len(q.consumers) == 0 || q.deleted || q.closed {
		return
	}
	if !q.anyCreditLocked() {
		return
	}
	for lvl := message.MaxPriority; lvl >= 0; lvl-- {
		for r := q.levels[lvl].head; r != nil; {
			next := r.next
			if r.msg().Expired(now) {
				q.levels[lvl].remove(r)
				q.ready--
				q.expireLocked(r)
				r = next
				continue
			}
			if c, first := q.pickConsumerLocked(r); c != nil {
				q.levels[lvl].remove(r)
				q.ready--
				c.deliverLocked(r, first)
				if !q.anyCreditLocked() {
					return
				}
			}
			r = next
		}
	}
}

func (q *queue) anyCreditLocked() bool {
	for _, c := range q.consumers {
		if c.hasCreditLocked() {
			return true
		}
	}
	return false
}

// pickConsumerLocked chooses the consumer for r: the exclusive consumer if
// there is one, the consumer owning r's message group, or else the next
// consumer in round-robin order among those of the highest priority that
// have credit and whose selector matches. first reports that r's message
// group has just been assigned to the consumer.
func (q *queue) pickConsumerLocked(r *ref) (c *Consumer, first bool) {
	if c := q.exclusiveConsumerLocked(); c != nil {
		if c.hasCreditLocked() && c.matches(r) {
			return c, false
		}
		return nil, false
	}
	group := r.msg().GroupID()
	if group != "" {
		if c := q.groups[group]; c != nil && !c.closed {
			if c.hasCreditLocked() && c.matches(r) {
				return c, false
			}
			return nil, false
		}
	}
	n := len(q.consumers)
	best := -1 << 31
	for _, c := range q.consumers {
		if c.priority > best && c.hasCreditLocked() && c.matches(r) {
			best = c.priority
		}
	}
	if best == -1<<31 {
		return nil, false
	}
	for i := 0; i < n; i++ {
		idx := (q.rr + i) % n
		c := q.consumers[idx]
		if c.priority == best && c.hasCreditLocked() && c.matches(r) {
			q.rr = idx + 1
			if group != "" {
				if q.groups == nil {
					q.groups = map[string]*Consumer{}
				}
				q.groups[group] = c
				return c, true
			}
			return c, false
		}
	}
	return nil, false
}

func (q *queue) exclusiveConsumerLocked() *Consumer {
	for _, c := range q.consumers {
		if c.exclusive {
			return c
		}
	}
	if q.exclusive && len(q.consumers) > 0 {
		return q.consumers[0]
	}
	return nil
}

func (q *queue) expireLocked(r *ref) {
	r.state = refDone
	q.forgetExcludedLocked(r)
	q.stats.Expired++
	if q.lastValue {
		q.forgetLastValueLocked(r)
	}
	q.moves = append(q.moves, move{r: r, kind: moveExpired})
}

// returnLocked takes back a ref a consumer did not acknowledge: it goes to
// the dead-letter address once it has used up its delivery attempts, and
// otherwise back to the queue, after the redelivery delay if one is set.
func (q *queue) returnLocked(r *ref, now int64) {
	q.delivering--
	set := q.b.settingsFor(q.address)
	if set.MaxDeliveryAttempts > 0 && int(r.deliveryCount) >= set.MaxDeliveryAttempts {
		r.state = refDone
		q.forgetExcludedLocked(r)
		q.stats.Killed++
		if q.lastValue {
			q.forgetLastValueLocked(r)
		}
		q.moves = append(q.moves, move{r: r, kind: moveDeadLetter})
		return
	}
	if r.stored() {
		q.pending.SetDeliveryCount(r.msg().ID, q.id, r.deliveryCount)
	}
	if d := redeliveryDelay(set, r.deliveryCount); d > 0 {
		r.stamp = now + d.Milliseconds()
		q.scheduleLocked(r)
		return
	}
	q.requeueLocked(r)
}

func redeliveryDelay(s AddressSettings, deliveries uint32) time.Duration {
	if s.RedeliveryDelay <= 0 {
		return 0
	}
	d := float64(s.RedeliveryDelay)
	mult := s.RedeliveryMultiplier
	if mult < 1 {
		mult = 1
	}
	for i := uint32(1); i < deliveries; i++ {
		d *= mult
		if s.MaxRedeliveryDelay > 0 && time.Duration(d) >= s.MaxRedeliveryDelay {
			return s.MaxRedeliveryDelay
		}
	}
	if s.MaxRedeliveryDelay > 0 && time.Duration(d) > s.MaxRedeliveryDelay {
		return s.MaxRedeliveryDelay
	}
	return time.Duration(d)
}

// expireScanLocked removes every expired ref that is waiting, so expired
// messages leave a queue even while nobody consumes it. A queue none of
// whose waiting messages has an expiration is not walked: with millions
// of messages queued the walk takes long enough, under the lock, to stall
// every producer and consumer of the queue once a second.
func (q *queue) expireScanLocked(now int64) {
	if !q.mayExpire {
		return
	}
	expiring := false
	for lvl := range q.levels {
		for r := q.levels[lvl].head; r != nil; {
			next := r.next
			if m := r.msg(); m.Expired(now) {
				q.levels[lvl].remove(r)
				q.ready--
				q.expireLocked(r)
			} else if m.Expiration > 0 {
				expiring = true
			}
			r = next
		}
	}
	for i := 0; i < len(q.sched); {
		r := q.sched[i]
		if m := r.msg(); m.Expired(now) {
			heap.Remove(&q.sched, i)
			q.expireLocked(r)
			continue
		} else if m.Expiration > 0 {
			expiring = true
		}
		i++
	}
	q.mayExpire = expiring
}

// purgeLocked removes every waiting ref and returns how many went.
func (q *queue) purgeLocked() int {
	n := 0
	for lvl := range q.levels {
		for r := q.levels[lvl].head; r != nil; {
			next := r.next
			q.levels[lvl].remove(r)
			q.finishLocked(r)
			n++
			r = next
		}
	}
	q.ready = 0
	for len(q.sched) > 0 {
		r := heap.Pop(&q.sched).(*ref)
		q.finishLocked(r)
		n++
	}
	return n
}

// BrowseItem is one message seen by a browser.
type BrowseItem struct {
	Message       *message.Message
	DeliveryCount uint32
}

// browseLocked lists the waiting messages in delivery order, up to max (0 =
// all), skipping expired ones and those the filter rejects.
func (q *queue) browseLocked(f Filter, max int, now int64) []BrowseItem {
	var out []BrowseItem
	for lvl := message.MaxPriority; lvl >= 0; lvl-- {
		for r := q.levels[lvl].head; r != nil; r = r.next {
			if r.msg().Expired(now) || (f != nil && !f.Match(q.viewLocked(r), r.deliveryCount+1)) {
				continue
			}
			out = append(out, BrowseItem{Message: r.publicMsg(), DeliveryCount: r.deliveryCount})
			if max > 0 && len(out) >= max {
				return out
			}
		}
	}
	return out
}

// QueueInfo is a snapshot of a queue for management and the console.
type QueueInfo struct {
	ID          uint64
	Name        string
	Address     string
	RoutingType message.RoutingType
	Durable     bool
	Temporary   bool
	AutoCreated bool
	Filter      string
	Exclusive   bool
	LastValue   bool
	Messages    int
	Scheduled   int
	Delivering  int
	Consumers   int
	Stats       QueueStats
}

func (q *queue) infoLocked() QueueInfo {
	return QueueInfo{
		ID: q.id, Name: q.name, Address: q.address, RoutingType: q.rt,
		Durable: q.durable, Temporary: q.temporary, AutoCreated: q.autoCreated,
		Filter: q.filterText, Exclusive: q.exclusive, LastValue: q.lastValue,
		Messages: q.ready + len(q.sched) + q.delivering, Scheduled: len(q.sched),
		Delivering: q.delivering, Consumers: len(q.consumers), Stats: q.stats,
	}
}
