package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"tandem/internal/message"
	"tandem/internal/store"
)

// Broker is the messaging core. Create it with New, then Start it.
type Broker struct {
	store  store.Store
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	filter FilterCompiler

	settingsCache  sync.Map     // address -> AddressSettings
	settingsCached atomic.Int64 // about how many entries settingsCache holds

	mu         sync.RWMutex
	addresses  map[string]*address
	wildcards  []*address // addresses whose name has a wildcard word
	queues     map[string]*queue
	sessions   map[uint64]*Session
	closed     bool
	started    bool
	stopExpiry chan struct{}
	wg         sync.WaitGroup

	nextSession  atomic.Uint64
	nextConsumer atomic.Uint64

	dups *dupCaches

	// Large message bodies (large.go).
	bodyRecords recordReleases
	deleter     *bodyDeleter

	// Flow control and paging (paging.go).
	globalSize atomic.Int64
	pages      map[string]*pageState // guarded by mu
	blocked    atomic.Int32          // producers waiting in waitForSpace
	spaceMu    sync.Mutex
	spaceCh    chan struct{} // closed and replaced when room frees up
	closing    chan struct{} // closed by Close

	creditState // producer credit (credit.go)
}

// address is a named destination and the queues bound to it. Its fields
// are guarded by Broker.mu.
type address struct {
	id          uint64
	name        string
	anycast     bool
	multicast   bool
	autoCreated bool
	configured  bool
	queues      []*queue
	rr          atomic.Uint32
	// pattern is set when the name has a wildcard word; wild lists the
	// wildcard addresses whose pattern matches this (concrete) name, whose
	// multicast queues also receive its multicast messages.
	pattern *wildcardPattern
	wild    []*address
	// hadQueue and emptySince (Unix ms its last queue went) drive
	// auto-delete of auto-created addresses.
	hadQueue   bool
	emptySince int64
	deleted    bool // removed from the registry (auto-delete)
	// size counts the bytes of this address's messages in memory, when its
	// settings limit it; pg is its paging state once it has paged.
	size atomic.Int64
	pg   atomic.Pointer[pageState]
}

// New returns a broker on opts.Store. Call Start before using it.
func New(opts Options) (*Broker, error) {
	if opts.Store == nil {
		return nil, errors.New("broker: Options.Store is required")
	}
	if opts.IDCacheSize == 0 {
		opts.IDCacheSize = 20000
	}
	b := &Broker{
		store:     opts.Store,
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		filter:    opts.Filters,
		addresses: map[string]*address{},
		queues:    map[string]*queue{},
		sessions:  map[uint64]*Session{},
		pages:     map[string]*pageState{},
		spaceCh:   make(chan struct{}),
		closing:   make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.dups = newDupCaches(opts.IDCacheSize)
	b.deleter = newBodyDeleter(b.deleteBody)
	// Consumer ids start at a random point, not 1: a STOMP acknowledgement
	// names its message by consumer and delivery number, and a client that
	// reconnects (to this node restarted, or to its backup) and then
	// acknowledges a message it got before, with the old ids, must match
	// nothing rather than another consumer's unrelated message. Kept below
	// 2^53 so the ids stay exact as JSON numbers in the console.
	b.nextConsumer.Store(1<<44 + rand.Uint64N(1<<48))
	return b, nil
}

func (b *Broker) nowMs() int64 { return b.now().UnixMilli() }

// maxCachedSettings bounds the address-settings cache. Addresses come and
// go (temporary queues, sends to names that do not exist), so the cache
// forgets an address when it is deleted and starts over when it is full;
// resolving settings again only costs a pattern match.
const maxCachedSettings = 4096

func (b *Broker) settingsFor(addr string) AddressSettings {
	if v, ok := b.settingsCache.Load(addr); ok {
		return v.(AddressSettings)
	}
	s := DefaultAddressSettings()
	if b.opts.Settings != nil {
		s = b.opts.Settings(addr)
	}
	if b.settingsCached.Load() >= maxCachedSettings {
		b.settingsCache.Clear()
		b.settingsCached.Store(0)
	}
	if _, loaded := b.settingsCache.LoadOrStore(addr, s); !loaded {
		b.settingsCached.Add(1)
	}
	return s
}

// forgetSettings drops the cached settings of a deleted address.
func (b *Broker) forgetSettings(addr string) {
	if _, ok := b.settingsCache.LoadAndDelete(addr); ok {
		b.settingsCached.Add(-1)
	}
}

func (b *Broker) logStoreError(err error) {
	if err != nil {
		b.log.Error("store write failed", "event", "store_error", "err", err)
	}
}

// commit writes a batch, calling done when it is durable. An empty batch
// completes at once.
func (b *Broker) commit(batch *store.Batch, sync bool, done func(error)) {
	if batch.Len() == 0 {
		callDone(done, nil)
		return
	}
	if done == nil {
		done = b.logStoreError
	}
	done, sync = b.withBodyReleases(batch, sync, done)
	b.store.Commit(batch, sync, done)
}

// commitWait writes a batch and waits until it is durable.
func (b *Broker) commitWait(batch *store.Batch) error {
	ch := make(chan error, 1)
	b.commit(batch, true, func(err error) { ch <- err })
	return <-ch
}

// ackOp records the end of r's life in its queue: an ack while other queues
// still hold the message, or the message's deletion with the last one.
func (b *Broker) ackOp(batch *store.Batch, r *ref) {
	b.uncharge(r)
	b.releaseBody(r)
	if !r.stored() {
		return
	}
	r.flags &^= refStored
	e := r.entry()
	switch {
	case e == nil: // a solo: its only queue is done with it
		batch.DeleteMessage(r.msg().ID)
	case atomic.AddInt32(&e.storedRefs, -1) == 0:
		batch.DeleteMessage(e.m.ID)
		b.releaseRecordWhenDurable(e)
	default:
		batch.Ack(e.m.ID, r.q.id)
	}
}

// Start recovers the store's state and the configured addresses, and starts
// the background expiry scanner.
func (b *Broker) Start() error {
	st, err := b.store.Load()
	if err != nil {
		return fmt.Errorf("load store: %w", err)
	}
	b.mu.Lock()
	for _, a := range st.Addresses {
		b.addresses[a.Name] = &address{id: a.ID, name: a.Name, anycast: a.Anycast, multicast: a.Multicast,
			autoCreated: a.AutoCreated, configured: a.Configured}
	}
	byID := make(map[uint64]*queue, len(st.Queues))
	for _, sq := range st.Queues {
		q, err := b.newQueueFromStore(sq)
		if err != nil {
			b.log.Warn("durable queue has a filter that no longer compiles; loading it without the filter",
				"queue", sq.Name, "filter", sq.Filter, "err", err)
		}
		a := b.addresses[sq.Address]
		if a == nil {
			a = &address{name: sq.Address, anycast: sq.RoutingType == message.Anycast, multicast: sq.RoutingType == message.Multicast}
			b.addresses[sq.Address] = a
		}
		q.addr = a
		a.queues = append(a.queues, q)
		a.hadQueue = true
		b.queues[q.name] = q
		byID[q.id] = q
	}
	b.rebuildWildcardIndexLocked()
	b.mu.Unlock()

	now := b.nowMs()
	orphans := 0
	referencedBodies := map[uint64]bool{}
	// A million messages queued are mostly runs of one address and one
	// queue: the lookups of the last message are kept for the next
	// (takeover time, docs/ha.md 6.2).
	var acctFor string
	var acct, acctAddr *address
	var limited bool
	var lastQ *queue
	for i := range st.Messages {
		sm := &st.Messages[i]
		e := &entry{m: sm.Message}
		if i == 0 || sm.Message.Address != acctFor {
			acctFor, acct = sm.Message.Address, nil
			acctAddr = b.addresses[acctFor]
			limited = acctAddr != nil && b.limited(b.settingsFor(acctAddr.name).MaxSizeBytes)
			if limited {
				acct = acctAddr
			}
		}
		e.acct = acct
		if len(sm.Refs) == 1 {
			q := lastQ
			if q == nil || q.id != sm.Refs[0].QueueID {
				q = byID[sm.Refs[0].QueueID]
				lastQ = q
			}
			if q != nil && canSolo(sm.Message, q, acctAddr, limited) {
				r := newSolo(sm.Message, q, limited)
				r.flags |= refStored
				r.deliveryCount = sm.Refs[0].DeliveryCount
				b.charge(r)
				q.lock()
				q.enqueueLocked(r, now)
				q.packLocked(r)
				q.stats.Added--
				q.mu.Unlock()
				continue
			}
		}
		for _, rf := range sm.Refs {
			q := lastQ
			if q == nil || q.id != rf.QueueID {
				q = byID[rf.QueueID]
				lastQ = q
			}
			if q == nil {
				orphans++
				continue
			}
			e.storedRefs++
			r := newRef(e, q)
			r.flags |= refStored
			r.deliveryCount = rf.DeliveryCount
			b.charge(r)
			holdBody(e, 1)
			q.lock()
			q.enqueueLocked(r, now)
			q.stats.Added--
			q.mu.Unlock()
		}
		if e.storedRefs == 0 {
			// Every queue it was in is gone: its body goes once the
			// record's deletion is durable.
			var batch store.Batch
			batch.DeleteMessage(sm.Message.ID)
			m := sm.Message
			b.commit(&batch, m.Large() != nil, func(err error) {
				if err == nil {
					b.discardBody(m)
				} else {
					b.logStoreError(err)
				}
			})
		} else if l := sm.Message.Large(); l != nil {
			holdRecord(e)
			referencedBodies[l.ID] = true
		}
	}
	if orphans > 0 {
		b.log.Warn("dropped references to queues that no longer exist", "refs", orphans)
	}
	var evicted store.Batch
	for _, d := range st.DuplicateIDs {
		b.dups.restore(d, &evicted)
	}
	b.commit(&evicted, false, nil)
	if err := b.applyConfiguredAddresses(); err != nil {
		return err
	}
	unreferenced := b.largeOrphans(referencedBodies)
	if err := b.recoverPaging(st.PageCursors, unreferenced); err != nil {
		return err
	}
	b.deleteLargeOrphans(unreferenced)
	b.mu.Lock()
	b.started = true
	b.stopExpiry = make(chan struct{})
	b.mu.Unlock()
	b.wg.Add(1)
	go b.expiryLoop(b.stopExpiry)
	b.log.Info("broker started", "event", "broker_started", "addresses", len(st.Addresses), "queues", len(st.Queues), "messages", len(st.Messages))
	return nil
}

// applyConfiguredAddresses creates the addresses and queues declared in the
// configuration that the store does not hold yet.
func (b *Broker) applyConfiguredAddresses() error {
	for _, ac := range b.opts.Addresses {
		if _, err := b.ensureAddress(ac.Name, ac.Anycast, ac.Multicast, false, true); err != nil {
			return fmt.Errorf("configured address %q: %w", ac.Name, err)
		}
		for _, qc := range ac.Queues {
			qc.Address = ac.Name
			if _, _, err := b.ensureQueue(qc, false, true, nil); err != nil {
				return fmt.Errorf("configured queue %q: %w", qc.Name, err)
			}
		}
	}
	return nil
}

func (b *Broker) newQueueFromStore(sq store.Queue) (*queue, error) {
	q := &queue{b: b, id: sq.ID, name: sq.Name, address: sq.Address, rt: sq.RoutingType, durable: true,
		autoCreated: sq.AutoCreated, configured: sq.Configured, filterText: sq.Filter, maxConsumers: sq.MaxConsumers,
		exclusive: sq.Exclusive, lastValue: sq.LastValue, lvKey: sq.LastValueKey}
	if sq.Filter != "" {
		f, err := b.compileFilter(sq.Filter)
		if err != nil {
			return q, err
		}
		q.filter = f
	}
	return q, nil
}

func (b *Broker) compileFilter(sel string) (Filter, error) {
	if sel == "" {
		return nil, nil
	}
	if b.filter == nil {
		return nil, errors.New("selectors are not supported by this broker")
	}
	return b.filter(sel)
}

// Close stops the broker: sessions are closed and the expiry scanner ends.
// It does not close the store, which its owner closes after the broker.
func (b *Broker) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	sessions := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	if b.stopExpiry != nil {
		close(b.stopExpiry)
	}
	close(b.closing)
	queues := make([]*queue, 0, len(b.queues))
	for _, q := range b.queues {
		queues = append(queues, q)
	}
	b.mu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	b.wg.Wait()
	b.deleter.stop()
	for _, q := range queues {
		q.lock()
		if q.timer != nil {
			q.timer.Stop()
		}
		q.closed = true
		q.unlock()
	}
}

func (b *Broker) expiryLoop(stop chan struct{}) {
	defer b.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			b.ScanExpired()
			b.reapAutoDeleted()
		}
	}
}

// ScanExpired removes expired messages from every queue now. The broker
// also runs it every second by itself.
func (b *Broker) ScanExpired() {
	now := b.nowMs()
	for _, q := range b.queueList() {
		q.lock()
		q.expireScanLocked(now)
		q.unlock()
	}
}

func (b *Broker) queueList() []*queue {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*queue, 0, len(b.queues))
	for _, q := range b.queues {
		out = append(out, q)
	}
	return out
}
