package pgstore

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"tandem/internal/message"
	"tandem/internal/store"
)

// unitKind says what one unit of work for the writer is.
type unitKind uint8

const (
	unitBatch   unitKind = iota + 1 // a store.Batch
	unitReserve                     // reserve ids up to reserve
	unitPage                        // append a page record
	unitRelease                     // delete page records before a sequence number
	unitChunk                       // a chunk of a large body
	unitBody                        // a complete large body
	unitLink                        // a second name for a large body
	unitDelBody                     // forget large bodies
	unitAbort                       // drop the chunks of an unfinished body
)

// unit is one piece of work for the writer, with its completion.
type unit struct {
	kind    unitKind
	batch   *store.Batch
	encoded [][]byte // the batch's messages, encoded when it was committed
	reserve uint64
	page    *pageRecord
	release pageRelease
	chunk   chunkRecord
	body    bodyRecord
	ids     []int64 // unitDelBody
	content int64   // unitAbort
	sync    bool
	done    func(error)
}

type pageRecord struct {
	address string
	seq     int64
	queues  []uint64
	data    []byte
}

type pageRelease struct {
	address string
	below   int64
}

type chunkRecord struct {
	content int64
	n       int32
	data    []byte
}

type bodyRecord struct {
	id, size int64 // unitBody
	old      int64 // unitLink: the body id is id, its content old's
}

// size is how many bytes a unit adds to a transaction, roughly.
func (u *unit) size() int {
	switch u.kind {
	case unitBatch:
		n := 32 * len(u.batch.Ops)
		for _, m := range u.encoded {
			n += len(m)
		}
		return n
	case unitPage:
		return len(u.page.data) + 64
	case unitChunk:
		return len(u.chunk.data) + 32
	}
	return 32
}

// group collects the rows of many units into the arrays of a few
// multi-row statements, and queues them as one transaction.
type group struct {
	sync bool

	addrs   []*store.Address
	queues  []*store.Queue
	cursors []*store.PageCursor
	delBind []int64

	msgID, msgSeq []int64
	msgData       [][]byte
	refM, refQ    []int64
	cntM, cntQ    []int64
	cntC          []int32
	cntAt         map[[2]int64]int // the entry of a reference, so the last count wins
	ackM, ackQ    []int64
	delMsg        []int64
	dupRec        []int64
	dupAddr       []string
	dupID         [][]byte
	delDup        []int64
	delCursor     []int64

	reserve int64

	pageAddr  []string
	pageSeq   []int64
	pageQ     []string
	pageData  [][]byte
	releases  []pageRelease
	chunkC    []int64
	chunkN    []int32
	chunkData [][]byte
	bodyID    []int64
	bodySize  []int64
	linkID    []int64
	linkOld   []int64
	delBody   []int64
	dropC     []int64
}

// encodeMessages encodes the messages a batch adds, at Commit: the broker
// may change a message once Commit returns, as the file store encodes at
// once too.
func encodeMessages(b *store.Batch) [][]byte {
	need, n := 0, 0
	for i := range b.Ops {
		if op := &b.Ops[i]; op.Kind == store.OpAddMessage {
			need += op.Message.Size() + 32
			n++
		}
	}
	if n == 0 {
		return nil
	}
	buf := make([]byte, 0, need)
	out := make([][]byte, 0, n)
	for i := range b.Ops {
		if op := &b.Ops[i]; op.Kind == store.OpAddMessage {
			start := len(buf)
			buf = message.AppendEncoded(buf, op.Message)
			out = append(out, buf[start:len(buf):len(buf)])
		}
	}
	return out
}

// newGroup builds the group of units; seq numbers the messages it adds.
func newGroup(units []*unit, seq *int64) *group {
	g := &group{}
	for _, u := range units {
		g.sync = g.sync || u.sync
		g.add(u, seq)
	}
	return g
}

func (g *group) add(u *unit, seq *int64) {
	switch u.kind {
	case unitBatch:
		enc := u.encoded
		for i := range u.batch.Ops {
			if u.batch.Ops[i].Kind == store.OpAddMessage {
				g.addMessage(int64(u.batch.Ops[i].ID), enc[0], seq)
				enc = enc[1:]
				continue
			}
			g.op(&u.batch.Ops[i])
		}
	case unitReserve:
		g.reserve = max(g.reserve, int64(u.reserve))
	case unitPage:
		p := u.page
		g.pageAddr = append(g.pageAddr, p.address)
		g.pageSeq = append(g.pageSeq, p.seq)
		g.pageQ = append(g.pageQ, arrayLiteral(p.queues))
		g.pageData = append(g.pageData, p.data)
	case unitRelease:
		g.releases = append(g.releases, u.release)
	case unitChunk:
		g.chunkC = append(g.chunkC, u.chunk.content)
		g.chunkN = append(g.chunkN, u.chunk.n)
		g.chunkData = append(g.chunkData, u.chunk.data)
	case unitBody:
		g.bodyID = append(g.bodyID, u.body.id)
		g.bodySize = append(g.bodySize, u.body.size)
	case unitLink:
		g.linkID = append(g.linkID, u.body.id)
		g.linkOld = append(g.linkOld, u.body.old)
	case unitDelBody:
		g.delBody = append(g.delBody, u.ids...)
	case unitAbort:
		g.dropC = append(g.dropC, u.content)
	}
}

// addMessage adds an encoded message, numbering it.
func (g *group) addMessage(id int64, data []byte, seq *int64) {
	*seq++
	g.msgID = append(g.msgID, id)
	g.msgSeq = append(g.msgSeq, *seq)
	g.msgData = append(g.msgData, data)
}

// op adds one store operation other than adding a message.
func (g *group) op(op *store.Op) {
	id := int64(op.ID)
	switch op.Kind {
	case store.OpAddAddress:
		g.addrs = append(g.addrs, op.Address)
	case store.OpAddQueue:
		g.queues = append(g.queues, op.Queue)
	case store.OpDeleteAddress, store.OpDeleteQueue:
		g.delBind = append(g.delBind, id)
	case store.OpAddRef:
		g.refM = append(g.refM, id)
		g.refQ = append(g.refQ, int64(op.QueueID))
	case store.OpAck:
		g.ackM = append(g.ackM, id)
		g.ackQ = append(g.ackQ, int64(op.QueueID))
	case store.OpDeleteMessage:
		g.delMsg = append(g.delMsg, id)
	case store.OpDeliveryCount:
		key := [2]int64{id, int64(op.QueueID)}
		if g.cntAt == nil {
			g.cntAt = map[[2]int64]int{}
		}
		if i, ok := g.cntAt[key]; ok {
			g.cntC[i] = int32(op.Count)
			return
		}
		g.cntAt[key] = len(g.cntC)
		g.cntM = append(g.cntM, id)
		g.cntQ = append(g.cntQ, int64(op.QueueID))
		g.cntC = append(g.cntC, int32(op.Count))
	case store.OpAddDuplicateID:
		g.dupRec = append(g.dupRec, id)
		g.dupAddr = append(g.dupAddr, op.Dup.Address)
		g.dupID = append(g.dupID, []byte(op.Dup.ID))
	case store.OpDeleteDuplicateID:
		g.delDup = append(g.delDup, id)
	case store.OpAddPageCursor:
		g.cursors = append(g.cursors, op.Cursor)
	case store.OpDeletePageCursor:
		g.delCursor = append(g.delCursor, id)
	}
}

// arrayLiteral writes queue ids as a PostgreSQL array literal, which the
// insert casts to bigint[] (unnest cannot take an array of arrays).
func arrayLiteral(ids []uint64) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	b.WriteByte('}')
	return b.String()
}

// queue adds the group's transaction to b. Inside it the statements run
// inserts first, then updates, then deletes: ids are never reused, so
// within one group a row is always added before it is changed or removed.
//
// pgx sends a batch as one pipeline ending in one Sync, and PostgreSQL runs
// the statements of a pipeline outside a transaction block as one implicit
// transaction, committed at the Sync and rolled back whole by any error. So
// BEGIN and COMMIT are sent only when the group's durability differs from
// the session's, for SET LOCAL synchronous_commit.
func (g *group) queue(b *pgx.Batch, st *statements, epoch, grp int64, sessionSync bool) {
	explicit := g.sync != sessionSync
	if explicit {
		b.Queue("BEGIN")
		if g.sync {
			b.Queue("SET LOCAL synchronous_commit = on")
		} else {
			b.Queue("SET LOCAL synchronous_commit = off")
		}
	}
	b.Queue(st.begin, epoch, grp)
	if g.reserve > 0 {
		b.Queue(st.reserve, g.reserve)
	}
	for _, a := range g.addrs {
		b.Queue(st.insAddress, int64(a.ID), a.Name, a.Anycast, a.Multicast, a.AutoCreated, a.Configured, epoch)
	}
	for _, q := range g.queues {
		b.Queue(st.insQueue, int64(q.ID), q.Name, q.Address, int16(q.RoutingType), q.Filter, int32(q.MaxConsumers), q.Exclusive,
			q.LastValue, q.LastValueKey, q.AutoCreated, q.Configured, epoch)
	}
	if len(g.msgID) > 0 {
		b.Queue(st.insMessages, g.msgID, g.msgSeq, epoch, g.msgData)
	}
	if len(g.refM) > 0 {
		b.Queue(st.insRefs, g.refM, g.refQ)
	}
	if len(g.dupRec) > 0 {
		b.Queue(st.insDups, g.dupRec, g.dupAddr, g.dupID)
	}
	for _, c := range g.cursors {
		b.Queue(st.insCursor, int64(c.RecordID), c.Address, int64(c.Page), int64(c.Offset))
	}
	if len(g.pageSeq) > 0 {
		b.Queue(st.insPages, g.pageAddr, g.pageSeq, g.pageQ, g.pageData, epoch)
	}
	if len(g.chunkC) > 0 {
		b.Queue(st.insChunks, g.chunkC, g.chunkN, epoch, g.chunkData)
	}
	if len(g.bodyID) > 0 {
		b.Queue(st.insBodies, g.bodyID, g.bodySize, epoch)
	}
	if len(g.linkID) > 0 {
		b.Queue(st.insLinks, g.linkID, g.linkOld, epoch)
	}
	if len(g.cntM) > 0 {
		b.Queue(st.setCounts, g.cntM, g.cntQ, g.cntC)
	}
	if len(g.ackM) > 0 {
		b.Queue(st.ackRefs, g.ackM, g.ackQ)
	}
	if len(g.delMsg) > 0 {
		b.Queue(st.delMessageRefs, g.delMsg)
		b.Queue(st.delMessages, g.delMsg)
	}
	if len(g.delDup) > 0 {
		b.Queue(st.delDups, g.delDup)
	}
	if len(g.delCursor) > 0 {
		b.Queue(st.delCursors, g.delCursor)
	}
	if len(g.delBind) > 0 {
		b.Queue(st.delBindings, g.delBind)
	}
	for _, r := range g.releases {
		b.Queue(st.releasePages, r.address, r.below)
	}
	if len(g.delBody) > 0 {
		b.Queue(st.delBodies, g.delBody)
	}
	if len(g.dropC) > 0 {
		b.Queue(st.dropChunks, g.dropC)
	}
	if explicit {
		b.Queue("COMMIT")
	}
}
