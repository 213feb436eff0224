package storecheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"tandem/internal/journal"
	"tandem/internal/largemsg"
	"tandem/internal/message"
	"tandem/internal/paging"
	"tandem/internal/store"
	"tandem/internal/store/filestore"
)

// Dirs are the directories of a store.
type Dirs struct {
	Journal, Bindings, Paging, Large string
	// JournalFileSize is journal-file-size, for the files Repair's
	// deletions may create; 0 means the default.
	JournalFileSize int64
}

// Severity grades a finding.
type Severity int

// The severities of findings.
const (
	// Note is something a start fixes by itself (a torn tail).
	Note Severity = iota
	// Warning is something harmless that a start cleans up or ignores.
	Warning
	// Error is something a start refuses, or a message that is damaged.
	Error
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Warning:
		return "warning"
	}
	return "ERROR"
}

// Finding is one thing Verify found.
type Finding struct {
	Severity Severity
	Area     string // "bindings journal", "messages journal", "paging", "large messages"
	Text     string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Severity, f.Area, f.Text) }

// Report is what Verify found: a summary line per area and the findings.
type Report struct {
	Summary  []string
	Findings []Finding

	// For Repair: the live messages whose large body is missing, by
	// record id, with a description of each; and the bodies (and
	// unfinished bodies) no message names, by file name.
	missing map[uint64]string
	orphans []string
}

// Errors counts the findings of severity Error.
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

func (r *Report) add(sev Severity, area, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Area: area, Text: fmt.Sprintf(format, args...)})
}

// liveMessage is a message record still in the journal.
type liveMessage struct {
	address string
	large   *message.Large
	refs    int
	line    string // filestore.Describe of its record
}

// Verify checks the store in d without changing anything.
func Verify(d Dirs) (*Report, error) {
	r := &Report{missing: map[uint64]string{}}
	verifyBindings(r, d.Bindings)
	live, cursors := verifyMessages(r, d.Journal)
	referenced := map[uint64]string{} // body id -> who names it
	for id, m := range live {
		if m.large != nil && m.refs > 0 {
			referenced[m.large.ID] = fmt.Sprintf("message %d on %s", id, m.address)
		}
	}
	pagedLarge, err := verifyPaging(r, d.Paging, cursors)
	if err != nil {
		return r, err
	}
	for id, who := range pagedLarge {
		referenced[id] = who
	}
	if err := verifyLarge(r, d.Large, live, referenced); err != nil {
		return r, err
	}
	return r, nil
}

func verifyBindings(r *Report, dir string) {
	const area = "bindings journal"
	files, records := 0, 0
	err := journal.Scan(dir, filestore.BindingsPrefix, func(e journal.ScanEntry) error {
		switch e.Kind {
		case journal.ScanFile:
			files++
		case journal.ScanRecord:
			records++
			if _, err := filestore.Describe(e.Op); err != nil {
				r.add(Error, area, "%s at offset %d: record %d does not decode: %v", e.File, e.Offset, e.Op.ID, err)
			}
		case journal.ScanTornTail:
			r.add(Note, area, "torn write at %s offset %d (a start cuts it): %v", e.File, e.Offset, e.Err)
		case journal.ScanCorrupt:
			r.add(Error, area, "%v (a start refuses this; tandem data repair cuts the journal back to before it)", e.Err)
		}
		return nil
	})
	summarize(r, area, dir, err, fmt.Sprintf("%d files, %d records", files, records))
}

func summarize(r *Report, area, dir string, err error, counts string) {
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.Summary = append(r.Summary, fmt.Sprintf("%s: %s does not exist (nothing stored yet)", area, dir))
	case err != nil && !errors.Is(err, journal.ErrCorrupt):
		r.add(Error, area, "%v", err)
	default:
		state := "OK"
		for _, f := range r.Findings {
			if f.Area == area && f.Severity == Error {
				state = "DAMAGED"
			}
		}
		r.Summary = append(r.Summary, fmt.Sprintf("%s: %s, %s", area, counts, state))
	}
}

// verifyMessages scans the message journal, replaying it the way a start
// would to learn which message records are live and where each address's
// page cursor stands.
func verifyMessages(r *Report, dir string) (map[uint64]*liveMessage, map[string]store.PageCursor) {
	const area = "messages journal"
	live := map[uint64]*liveMessage{}
	cursors := map[uint64]store.PageCursor{}
	files, records := 0, 0
	err := journal.Scan(dir, filestore.MessagesPrefix, func(e journal.ScanEntry) error {
		switch e.Kind {
		case journal.ScanFile:
			files++
		case journal.ScanRecord:
			records++
			line, err := filestore.Describe(e.Op)
			if err != nil {
				r.add(Error, area, "%s at offset %d: record %d does not decode: %v", e.File, e.Offset, e.Op.ID, err)
				return nil
			}
			op, err := filestore.ReadOp(e.Op)
			if err != nil {
				r.add(Error, area, "%s at offset %d: %v", e.File, e.Offset, err)
				return nil
			}
			switch {
			case op.Delete:
				delete(live, op.ID)
				delete(cursors, op.ID)
			case op.Message != nil:
				live[op.ID] = &liveMessage{address: op.Message.Address, large: op.Message.Large(), line: line}
			case op.Cursor != nil:
				cursors[op.ID] = *op.Cursor
			case op.RefDelta != 0:
				if m := live[op.ID]; m != nil {
					m.refs += op.RefDelta
				}
			}
		case journal.ScanTornTail:
			r.add(Note, area, "torn write at %s offset %d (a start cuts it): %v", e.File, e.Offset, e.Err)
		case journal.ScanCorrupt:
			r.add(Error, area, "%v (a start refuses this; tandem data repair cuts the journal back to before it)", e.Err)
		}
		return nil
	})
	n := 0
	for _, m := range live {
		if m.refs > 0 {
			n++
		}
	}
	summarize(r, area, dir, err, fmt.Sprintf("%d files, %d records, %d live messages", files, records, n))
	byAddr := map[string]store.PageCursor{}
	for _, c := range cursors {
		byAddr[c.Address] = c
	}
	return live, byAddr
}

// verifyPaging checks the page files and returns the large bodies that
// durable records still to be depaged name.
func verifyPaging(r *Report, dir string, cursors map[string]store.PageCursor) (map[uint64]string, error) {
	const area = "paging"
	large := map[uint64]string{}
	records, pending := 0, 0
	addrs, err := paging.Inspect(dir, func(a *paging.AddressDir, pos store.PagePosition, m *message.Message) {
		records++
		c, ok := cursors[a.Address]
		if ok && pos.Less(store.PagePosition{Page: c.Page, Offset: c.Offset}) {
			return // moved into the journal already
		}
		pending++
		if l := m.Large(); l != nil && m.Durable {
			large[l.ID] = fmt.Sprintf("a paged message of %s (%s offset %d)", a.Address, filepath.Base(a.Path), pos.Offset)
		}
	})
	if err != nil {
		r.add(Error, area, "%v", err)
		return large, nil
	}
	pages := 0
	for i := range addrs {
		a := &addrs[i]
		pages += len(a.Pages)
		if a.Err != nil {
			r.add(Warning, area, "%s: %v", a.Path, a.Err)
		}
		for _, pf := range a.Pages {
			switch {
			case pf.Err == nil:
			case pf.Torn:
				r.add(Note, area, "%s: torn write at offset %d (a start cuts it): %v", pf.Path, pf.End, pf.Err)
			default:
				r.add(Error, area, "%v (paged messages from here on cannot be read; tandem data repair cuts the page files back to before it)", pf.Err)
			}
		}
	}
	state := "OK"
	for _, f := range r.Findings {
		if f.Area == area && f.Severity == Error {
			state = "DAMAGED"
		}
	}
	r.Summary = append(r.Summary, fmt.Sprintf("%s: %d addresses, %d page files, %d records (%d still to depage), %s", area, len(addrs), pages, records, pending, state))
	return large, nil
}

// verifyLarge checks the large-message bodies against the messages that
// name them.
func verifyLarge(r *Report, dir string, live map[uint64]*liveMessage, referenced map[uint64]string) error {
	const area = "large messages"
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		r.add(Error, area, "%v", err)
		return nil
	}
	sizes := map[uint64]int64{}
	var tmp []string
	for _, e := range ents {
		if id, ok := largemsg.ParseBodyName(e.Name()); ok {
			fi, err := e.Info()
			if err != nil {
				return fmt.Errorf("storecheck: %w", err)
			}
			sizes[id] = fi.Size()
		} else if strings.HasSuffix(e.Name(), largemsg.TempSuffix) {
			tmp = append(tmp, e.Name())
		}
	}
	// Messages whose body is missing or of the wrong size.
	ids := make([]uint64, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := live[id]
		if m.large == nil || m.refs <= 0 {
			continue
		}
		size, ok := sizes[m.large.ID]
		switch {
		case !ok:
			r.add(Error, area, "message %d on %s names body %s (%d bytes), which is missing (tandem data repair deletes the message)", id, m.address, largemsg.BodyName(m.large.ID), m.large.Size)
			r.missing[id] = m.line
		case size != m.large.Size:
			r.add(Error, area, "message %d on %s names body %s of %d bytes, but the file holds %d", id, m.address, largemsg.BodyName(m.large.ID), m.large.Size, size)
		}
	}
	for id, who := range referenced {
		if _, ok := sizes[id]; !ok && strings.HasPrefix(who, "a paged") {
			r.add(Error, area, "%s names body %s, which is missing (repair cannot remove one paged message; consume the address and discard it)", who, largemsg.BodyName(id))
		}
	}
	var orphans []string
	for id := range sizes {
		if _, ok := referenced[id]; !ok {
			orphans = append(orphans, largemsg.BodyName(id))
		}
	}
	sort.Strings(orphans)
	sort.Strings(tmp)
	if len(orphans) > 0 {
		r.add(Warning, area, "%d bodies no message names (left by a crash; a start deletes them, tandem data repair moves them out): %s", len(orphans), list(orphans))
	}
	if len(tmp) > 0 {
		r.add(Note, area, "%d unfinished bodies (a start deletes them): %s", len(tmp), list(tmp))
	}
	r.orphans = append(orphans, tmp...)
	state := "OK"
	for _, f := range r.Findings {
		if f.Area == area && f.Severity == Error {
			state = "DAMAGED"
		}
	}
	r.Summary = append(r.Summary, fmt.Sprintf("%s: %d bodies, %d named by a message, %s", area, len(sizes), len(sizes)-len(orphans), state))
	return nil
}

// list shows the first few names.
func list(names []string) string {
	if len(names) > 8 {
		return strings.Join(names[:8], ", ") + fmt.Sprintf(" and %d more", len(names)-8)
	}
	return strings.Join(names, ", ")
}
