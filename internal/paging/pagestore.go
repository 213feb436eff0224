package paging

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"tandem/internal/fsutil"
	"tandem/internal/message"
	"tandem/internal/store"
)

// PageStore is one address's page files. It implements store.PageStore.
type PageStore struct {
	dir      string
	pageSize int64
	syncs    bool
	fence    *store.Fence

	mu      sync.Mutex
	first   uint64             // lowest page number on disk
	end     store.PagePosition // after the last appended record, pending ones included
	durable store.PagePosition // after the last record written (and synced)
	pending []segment          // appended, not yet written
	dones   []func(error)      // completions of the pending appends
	closed  bool
	werr    error // a failed write stops the store: nothing after it is confirmed
	kick    chan struct{}
	stopped chan struct{}
	// beforeSync, set by tests before the first Append, runs before every
	// fdatasync of a page file.
	beforeSync func()

	// The reader state is used by one reader at a time (the broker's
	// depager) and guarded by readMu.
	readMu  sync.Mutex
	rf      *os.File
	rbuf    *bufio.Reader
	rpos    store.PagePosition
	scratch []byte
}

// segment is pending bytes for one page.
type segment struct {
	page uint64
	data []byte
}

var _ store.PageStore = (*PageStore)(nil)

func pageName(page uint64) string { return fmt.Sprintf("%016d.page", page) }

// openPageStore opens the page files in dir, cutting a torn record off the
// end of the last page.
func openPageStore(dir string, pageSize int64, syncs bool, fence *store.Fence) (*PageStore, error) {
	s := &PageStore{dir: dir, pageSize: pageSize, syncs: syncs, fence: fence, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	pages, err := listPages(dir)
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		s.first = 1
		s.end = store.PagePosition{Page: 1, Offset: headerSize}
	} else {
		s.first = pages[0]
		last := pages[len(pages)-1]
		if err := fence.Enter(); err != nil {
			return nil, fmt.Errorf("paging: open %s: %w", dir, err)
		}
		size, err := repairTail(filepath.Join(dir, pageName(last)), last)
		fence.Exit()
		if err != nil {
			return nil, err
		}
		s.end = store.PagePosition{Page: last, Offset: uint64(size)}
	}
	s.durable = s.end
	go s.writer()
	return s, nil
}

// listPages returns the page numbers in dir, ascending.
func listPages(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("paging: list %s: %w", dir, err)
	}
	var pages []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".page")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("paging: %s: unexpected file name; page files are named NNNNNNNNNNNNNNNN.page", filepath.Join(dir, e.Name()))
		}
		pages = append(pages, n)
	}
	slices.Sort(pages)
	return pages, nil
}

// repairTail checks the records of the last page and truncates it after
// the last whole one, as a crash may have left half a record behind. It
// returns the file's size afterwards.
func repairTail(path string, page uint64) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("paging: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("paging: read %s: %w", path, err)
	}
	if len(data) < headerSize {
		// Created but its header never made it: rewrite the header.
		if _, err := f.WriteAt(encodeHeader(page), 0); err != nil {
			return 0, fmt.Errorf("paging: rewrite header of %s: %w", path, err)
		}
		return headerSize, f.Truncate(headerSize)
	}
	if n, err := decodeHeader(data); err != nil || n != page {
		return 0, fmt.Errorf("paging: %s: %w (header says page %d)", path, errors.Join(err, ErrCorrupt), n)
	}
	off := headerSize
	for len(data)-off >= recordHeaderSize {
		n, err := checkRecord(data[off:])
		if err != nil {
			break
		}
		off += recordHeaderSize + n
	}
	if off != len(data) {
		if err := f.Truncate(int64(off)); err != nil {
			return 0, fmt.Errorf("paging: cut torn tail of %s at %d: %w", path, off, err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("paging: sync %s: %w", path, err)
		}
	}
	return int64(off), nil
}

// Append implements store.PageStore.
func (s *PageStore) Append(m *message.Message, queues []uint64, sync bool, done func(error)) {
	if err := s.fence.Err(); err != nil {
		done(err)
		return
	}
	s.mu.Lock()
	if s.closed || s.werr != nil {
		err := s.werr
		if err == nil {
			err = ErrClosed
		}
		s.mu.Unlock()
		done(err)
		return
	}
	var rec []byte
	if n := len(s.pending); n > 0 && s.pending[n-1].page == s.end.Page {
		rec = s.pending[n-1].data
	}
	before := len(rec)
	rec = appendRecord(rec, m, queues)
	size := uint64(len(rec) - before)
	if s.end.Offset > headerSize && s.end.Offset+size > uint64(s.pageSize) {
		// Start a new page rather than grow this one past page-size-bytes.
		s.end = store.PagePosition{Page: s.end.Page + 1, Offset: headerSize}
		rec = append([]byte(nil), rec[before:]...)
		before = 0
	}
	if n := len(s.pending); n > 0 && s.pending[n-1].page == s.end.Page {
		s.pending[n-1].data = rec
	} else {
		s.pending = append(s.pending, segment{page: s.end.Page, data: rec[before:]})
	}
	s.end.Offset += size
	s.dones = append(s.dones, done)
	// Kicked under mu: Close closes the channel under mu too.
	select {
	case s.kick <- struct{}{}:
	default:
	}
	s.mu.Unlock()
}

// writer writes what is pending, one write and one fdatasync per round, and
// then runs the completions in order. The writes and the completions are
// sections of the fence (store.Fence), the fdatasync between them is not:
// an append whose sync completes after the fence fell fails, although its
// bytes may be on disk, and Fence never waits for a slow disk.
func (s *PageStore) writer() {
	defer close(s.stopped)
	var f *os.File
	var fpage uint64
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for range s.kick {
		s.mu.Lock()
		segs, dones, end := s.pending, s.dones, s.end
		s.pending, s.dones = nil, nil
		closed := s.closed
		s.mu.Unlock()
		var err error
		f, fpage, err = s.writeSegments(f, fpage, segs)
		if err == nil && f != nil && len(segs) > 0 {
			err = s.flush(f)
		}
		if err == nil {
			if err = s.fence.Enter(); err == nil {
				s.mu.Lock()
				s.durable = end
				s.mu.Unlock()
				for _, d := range dones {
					d(nil)
				}
				s.fence.Exit()
			}
		}
		if err != nil {
			s.mu.Lock()
			if s.werr == nil {
				s.werr = err
			}
			s.mu.Unlock()
			for _, d := range dones {
				d(err)
			}
		}
		if closed {
			return
		}
	}
}

// writeSegments writes segs to their pages, f being the open file of page
// fpage (or nil), and returns the file left open. Each write is a section
// of the fence; the sync of a full page before the next one is not.
func (s *PageStore) writeSegments(f *os.File, fpage uint64, segs []segment) (*os.File, uint64, error) {
	for _, sg := range segs {
		if f != nil && fpage != sg.page {
			err := s.flush(f)
			f.Close()
			f = nil
			if err != nil {
				return nil, 0, err
			}
		}
		if err := s.fence.Enter(); err != nil {
			return f, fpage, err
		}
		var err error
		if f == nil {
			if f, err = s.openForAppend(sg.page); err == nil {
				fpage = sg.page
			}
		}
		if err == nil {
			if _, err = f.Write(sg.data); err != nil {
				err = fmt.Errorf("paging: write %s: %w", filepath.Join(s.dir, pageName(sg.page)), err)
			}
		}
		s.fence.Exit()
		if err != nil {
			return f, fpage, err
		}
	}
	return f, fpage, nil
}

func (s *PageStore) flush(f *os.File) error {
	if !s.syncs {
		return nil
	}
	if s.beforeSync != nil {
		s.beforeSync()
	}
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("paging: sync %s: %w", f.Name(), err)
	}
	return nil
}

// openForAppend opens page for appending, creating it with its header (and
// syncing the directory) when it is new.
func (s *PageStore) openForAppend(page uint64) (*os.File, error) {
	path := filepath.Join(s.dir, pageName(page))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("paging: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("paging: %w", err)
	}
	if st.Size() == 0 {
		if _, err := f.Write(encodeHeader(page)); err != nil {
			f.Close()
			return nil, fmt.Errorf("paging: write header of %s: %w", path, err)
		}
		if s.syncs {
			if err := fsutil.SyncDir(s.dir); err != nil {
				f.Close()
				return nil, fmt.Errorf("paging: %w", err)
			}
		}
	}
	return f, nil
}

// Read implements store.PageStore.
func (s *PageStore) Read(from store.PagePosition, maxBytes int) ([]store.PagedMessage, error) {
	s.mu.Lock()
	durable := s.durable
	s.mu.Unlock()
	s.readMu.Lock()
	defer s.readMu.Unlock()
	var out []store.PagedMessage
	total := 0
	pos := from
	for total < maxBytes && pos.Less(durable) {
		limit, err := s.pageLimit(pos.Page, durable)
		if err != nil {
			return out, err
		}
		if pos.Offset >= limit {
			pos = store.PagePosition{Page: pos.Page + 1, Offset: headerSize}
			continue
		}
		pm, n, err := s.readAt(pos)
		if err != nil {
			return out, err
		}
		out = append(out, pm)
		total += n
		pos = pm.Next
	}
	return out, nil
}

// pageLimit is how far page may be read: the durable end on the last page,
// the file's size on earlier ones.
func (s *PageStore) pageLimit(page uint64, durable store.PagePosition) (uint64, error) {
	if page == durable.Page {
		return durable.Offset, nil
	}
	st, err := os.Stat(filepath.Join(s.dir, pageName(page)))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // a page that was never written: skip it
	}
	if err != nil {
		return 0, fmt.Errorf("paging: %w", err)
	}
	return uint64(st.Size()), nil
}

// readAt decodes the record at pos, reusing the buffered reader when pos
// continues the previous read.
func (s *PageStore) readAt(pos store.PagePosition) (store.PagedMessage, int, error) {
	path := filepath.Join(s.dir, pageName(pos.Page))
	if s.rf == nil || s.rpos != pos {
		if s.rf != nil {
			s.rf.Close()
			s.rf = nil
		}
		f, err := os.Open(path)
		if err != nil {
			return store.PagedMessage{}, 0, fmt.Errorf("paging: %w", err)
		}
		if _, err := f.Seek(int64(pos.Offset), io.SeekStart); err != nil {
			f.Close()
			return store.PagedMessage{}, 0, fmt.Errorf("paging: seek %s: %w", path, err)
		}
		s.rf, s.rpos = f, pos
		if s.rbuf == nil {
			s.rbuf = bufio.NewReaderSize(f, 256<<10)
		} else {
			s.rbuf.Reset(f)
		}
	}
	bad := func(err error) (store.PagedMessage, int, error) {
		s.rf.Close()
		s.rf = nil
		return store.PagedMessage{}, 0, fmt.Errorf("paging: %s at offset %d: %w", path, pos.Offset, err)
	}
	var hdr [recordHeaderSize]byte
	if _, err := io.ReadFull(s.rbuf, hdr[:]); err != nil {
		return bad(fmt.Errorf("%w: %v", ErrCorrupt, err))
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n == 0 || n > maxRecordSize {
		return bad(fmt.Errorf("%w: record length %d", ErrCorrupt, n))
	}
	if cap(s.scratch) < recordHeaderSize+int(n) {
		s.scratch = make([]byte, recordHeaderSize+int(n))
	}
	buf := s.scratch[:recordHeaderSize+int(n)]
	copy(buf, hdr[:])
	if _, err := io.ReadFull(s.rbuf, buf[recordHeaderSize:]); err != nil {
		return bad(fmt.Errorf("%w: %v", ErrCorrupt, err))
	}
	if _, err := checkRecord(buf); err != nil {
		return bad(err)
	}
	m, queues, err := decodePayload(buf[recordHeaderSize:])
	if err != nil {
		return bad(err)
	}
	next := store.PagePosition{Page: pos.Page, Offset: pos.Offset + recordHeaderSize + uint64(n)}
	s.rpos = next
	if cap(s.scratch) > 4<<20 {
		s.scratch = nil // do not keep a large message's buffer around
	}
	return store.PagedMessage{Message: m, Queues: queues, Pos: pos, Next: next}, len(buf), nil
}

// Start implements store.PageStore.
func (s *PageStore) Start() store.PagePosition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return store.PagePosition{Page: s.first, Offset: headerSize}
}

// End implements store.PageStore.
func (s *PageStore) End() store.PagePosition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end
}

// Release implements store.PageStore: it deletes the page files before
// pos.Page. The page pos is in, and so the newest page, always stays, which
// keeps the numbering going across restarts.
func (s *PageStore) Release(pos store.PagePosition) error {
	s.mu.Lock()
	from := s.first
	if pos.Page > s.end.Page {
		pos.Page = s.end.Page
	}
	if pos.Page > s.first {
		s.first = pos.Page
	}
	s.mu.Unlock()
	if from >= pos.Page {
		return nil
	}
	if err := s.fence.Enter(); err != nil {
		return fmt.Errorf("paging: release pages of %s: %w", s.dir, err)
	}
	defer s.fence.Exit()
	var errs []error
	for p := from; p < pos.Page; p++ {
		if err := os.Remove(filepath.Join(s.dir, pageName(p))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("paging: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Close implements store.PageStore: pending appends are written first.
func (s *PageStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.kick)
	s.mu.Unlock()
	<-s.stopped
	s.readMu.Lock()
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	s.readMu.Unlock()
	return nil
}
