package pgstore

import (
	"strings"

	"tandem/internal/pgdb"
)

// component names the store's schema in pgdb.VersionTable.
func component(t pgdb.Tables) string { return "store:" + t.Messages }

// migrations are the versions of the store's schema. docs/database-format.md
// describes every table and column; change both together, and never an
// applied step: add one.
func migrations(t pgdb.Tables) []pgdb.Migration {
	return []pgdb.Migration{{
		Note: "bindings, messages, references, duplicate ids, page cursors, counters, page store, large messages",
		SQL: replacer(t).Replace(`
CREATE TABLE BINDINGS (
	id             bigint PRIMARY KEY,
	kind           text NOT NULL CHECK (kind IN ('address', 'queue')),
	name           text NOT NULL,
	address        text NOT NULL DEFAULT '',
	routing_type   smallint NOT NULL DEFAULT 0,
	anycast        boolean NOT NULL DEFAULT false,
	multicast      boolean NOT NULL DEFAULT false,
	filter         text NOT NULL DEFAULT '',
	max_consumers  integer NOT NULL DEFAULT -1,
	exclusive      boolean NOT NULL DEFAULT false,
	last_value     boolean NOT NULL DEFAULT false,
	last_value_key text NOT NULL DEFAULT '',
	auto_created   boolean NOT NULL DEFAULT false,
	configured     boolean NOT NULL DEFAULT false,
	epoch          bigint NOT NULL
);
CREATE TABLE MESSAGES (
	id    bigint PRIMARY KEY,
	seq   bigint NOT NULL,
	epoch bigint NOT NULL,
	data  bytea NOT NULL
);
CREATE TABLE REFS (
	message_id     bigint NOT NULL,
	queue_id       bigint NOT NULL,
	delivery_count integer NOT NULL DEFAULT 0,
	PRIMARY KEY (message_id, queue_id)
);
CREATE TABLE DUPS (
	record_id bigint PRIMARY KEY,
	address   text NOT NULL,
	dup_id    bytea NOT NULL
);
CREATE TABLE CURSORS (
	record_id bigint PRIMARY KEY,
	address   text NOT NULL,
	page      bigint NOT NULL,
	pos       bigint NOT NULL
);
CREATE TABLE META (
	id         smallint PRIMARY KEY CHECK (id = 1),
	next_id    bigint NOT NULL,
	last_group bigint NOT NULL,
	last_epoch bigint NOT NULL
);
INSERT INTO META (id, next_id, last_group, last_epoch) VALUES (1, 1, 0, 0);
CREATE TABLE PAGES (
	address text NOT NULL,
	seq     bigint NOT NULL,
	epoch   bigint NOT NULL,
	queues  bigint[] NOT NULL,
	data    bytea NOT NULL,
	PRIMARY KEY (address, seq)
);
CREATE TABLE LARGE (
	id      bigint PRIMARY KEY,
	content bigint NOT NULL,
	size    bigint NOT NULL,
	epoch   bigint NOT NULL
);
CREATE INDEX LARGE_content ON LARGE (content);
CREATE TABLE CHUNKS (
	content bigint NOT NULL,
	n       integer NOT NULL,
	epoch   bigint NOT NULL,
	data    bytea NOT NULL,
	PRIMARY KEY (content, n)
);
CREATE FUNCTION BEGINFN(p_epoch bigint, p_group bigint) RETURNS void LANGUAGE plpgsql AS $begin$
BEGIN
	PERFORM FENCE(p_epoch);
	UPDATE META SET last_group = p_group, last_epoch = p_epoch WHERE id = 1;
END
$begin$;`),
	}}
}

// replacer fills the table names into SQL written with upper-case
// placeholders.
func replacer(t pgdb.Tables) *strings.Replacer {
	return strings.NewReplacer(
		"BINDINGS", t.Bindings, "MESSAGES", t.Messages, "REFS", t.Refs(), "DUPS", t.Dups(),
		"CURSORS", t.Cursors(), "META", t.Meta(), "PAGES", t.PageStore, "LARGE", t.LargeMessages,
		"CHUNKS", t.Chunks(), "FENCE", t.Fence(), "BEGINFN", t.Messages+"_begin")
}

// statements are the store's SQL with the table names filled in.
type statements struct {
	fence, begin, reserve                                               string
	insAddress, insQueue, delBindings                                   string
	insMessages, insRefs, setCounts, ackRefs                            string
	delMessageRefs, delMessages                                         string
	insDups, delDups, insCursor, delCursors                             string
	insPages, releasePages                                              string
	insChunks, insBodies, insLinks, delBodies, dropChunks, orphanChunks string

	loadBindings, loadMessages, loadDups, loadCursors, loadMeta, maxSeq string
	resolve                                                             string
	pageBounds, pageRead, pageAddresses                                 string
	bodyInfo, chunk, bodyIDs                                            string
}

func newStatements(t pgdb.Tables) statements {
	r := replacer(t)
	return statements{
		fence: r.Replace(`SELECT FENCE($1)`),
		// The fence and the progress row in one statement: the first of
		// every write transaction.
		begin:   r.Replace(`SELECT BEGINFN($1, $2)`),
		reserve: r.Replace(`UPDATE META SET next_id = greatest(next_id, $1) WHERE id = 1`),

		insAddress: r.Replace(`INSERT INTO BINDINGS (id, kind, name, anycast, multicast, auto_created, configured, epoch)
			VALUES ($1, 'address', $2, $3, $4, $5, $6, $7)`),
		insQueue: r.Replace(`INSERT INTO BINDINGS (id, kind, name, address, routing_type, filter, max_consumers, exclusive,
			last_value, last_value_key, auto_created, configured, epoch)
			VALUES ($1, 'queue', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
		delBindings: r.Replace(`DELETE FROM BINDINGS WHERE id = ANY($1)`),

		insMessages: r.Replace(`INSERT INTO MESSAGES (id, seq, epoch, data)
			SELECT u.id, u.seq, $3, u.data FROM unnest($1::bigint[], $2::bigint[], $4::bytea[]) AS u(id, seq, data)`),
		insRefs: r.Replace(`INSERT INTO REFS (message_id, queue_id)
			SELECT * FROM unnest($1::bigint[], $2::bigint[])`),
		setCounts: r.Replace(`UPDATE REFS r SET delivery_count = u.c
			FROM unnest($1::bigint[], $2::bigint[], $3::integer[]) AS u(m, q, c)
			WHERE r.message_id = u.m AND r.queue_id = u.q`),
		ackRefs: r.Replace(`DELETE FROM REFS r USING unnest($1::bigint[], $2::bigint[]) AS u(m, q)
			WHERE r.message_id = u.m AND r.queue_id = u.q`),
		delMessageRefs: r.Replace(`DELETE FROM REFS WHERE message_id = ANY($1)`),
		delMessages:    r.Replace(`DELETE FROM MESSAGES WHERE id = ANY($1)`),

		insDups: r.Replace(`INSERT INTO DUPS (record_id, address, dup_id)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[])`),
		delDups:    r.Replace(`DELETE FROM DUPS WHERE record_id = ANY($1)`),
		insCursor:  r.Replace(`INSERT INTO CURSORS (record_id, address, page, pos) VALUES ($1, $2, $3, $4)`),
		delCursors: r.Replace(`DELETE FROM CURSORS WHERE record_id = ANY($1)`),

		insPages: r.Replace(`INSERT INTO PAGES (address, seq, epoch, queues, data)
			SELECT u.a, u.s, $5, u.q::bigint[], u.d FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[]) AS u(a, s, q, d)`),
		releasePages: r.Replace(`DELETE FROM PAGES WHERE address = $1 AND seq < $2`),

		insChunks: r.Replace(`INSERT INTO CHUNKS (content, n, epoch, data)
			SELECT u.c, u.n, $3, u.d FROM unnest($1::bigint[], $2::integer[], $4::bytea[]) AS u(c, n, d)`),
		insBodies: r.Replace(`INSERT INTO LARGE (id, content, size, epoch)
			SELECT u.id, u.id, u.size, $3 FROM unnest($1::bigint[], $2::bigint[]) AS u(id, size)`),
		insLinks: r.Replace(`INSERT INTO LARGE (id, content, size, epoch)
			SELECT u.id, l.content, l.size, $3 FROM unnest($1::bigint[], $2::bigint[]) AS u(id, old) JOIN LARGE l ON l.id = u.old`),
		// The chunks of a content go with its last body. The subquery sees
		// the table before this statement's DELETE, hence the id test.
		delBodies: r.Replace(`WITH gone AS (DELETE FROM LARGE WHERE id = ANY($1) RETURNING content)
			DELETE FROM CHUNKS c WHERE c.content IN (SELECT content FROM gone)
			AND NOT EXISTS (SELECT 1 FROM LARGE b WHERE b.content = c.content AND b.id <> ALL($1))`),
		dropChunks: r.Replace(`DELETE FROM CHUNKS c WHERE c.content = ANY($1)
			AND NOT EXISTS (SELECT 1 FROM LARGE b WHERE b.content = c.content)`),
		// Chunks of bodies a crash left unfinished (no body row names them).
		orphanChunks: r.Replace(`DELETE FROM CHUNKS c WHERE NOT EXISTS (SELECT 1 FROM LARGE b WHERE b.content = c.content)`),

		loadBindings: r.Replace(`SELECT id, kind, name, address, routing_type, anycast, multicast, filter, max_consumers,
			exclusive, last_value, last_value_key, auto_created, configured FROM BINDINGS ORDER BY id`),
		loadMessages: r.Replace(`SELECT m.id, m.data, r.queue_id, r.delivery_count
			FROM MESSAGES m LEFT JOIN REFS r ON r.message_id = m.id ORDER BY m.seq, m.id, r.queue_id`),
		loadDups:    r.Replace(`SELECT record_id, address, dup_id FROM DUPS ORDER BY record_id`),
		loadCursors: r.Replace(`SELECT record_id, address, page, pos FROM CURSORS ORDER BY record_id`),
		loadMeta:    r.Replace(`SELECT next_id, last_group FROM META WHERE id = 1`),
		maxSeq:      r.Replace(`SELECT coalesce(max(seq), 0) FROM MESSAGES`),
		resolve:     r.Replace(`SELECT last_group, last_epoch FROM META WHERE id = 1`),

		pageBounds:    r.Replace(`SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM PAGES WHERE address = $1`),
		pageRead:      r.Replace(`SELECT seq, queues, data FROM PAGES WHERE address = $1 AND seq >= $2 ORDER BY seq LIMIT $3`),
		pageAddresses: r.Replace(`SELECT DISTINCT address FROM PAGES ORDER BY address`),

		bodyInfo: r.Replace(`SELECT content, size FROM LARGE WHERE id = $1`),
		chunk:    r.Replace(`SELECT data FROM CHUNKS WHERE content = $1 AND n = $2`),
		bodyIDs:  r.Replace(`SELECT id FROM LARGE ORDER BY id`),
	}
}
