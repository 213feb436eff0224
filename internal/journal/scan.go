package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Reading journal files: walking frames, telling torn tails from corruption
// (shared by Open and Scan), and the offline Scan.

// ScanKind says what a ScanEntry describes.
type ScanKind uint8

// The kinds of entries Scan reports.
const (
	ScanFile     ScanKind = iota + 1 // a data file's header, before its records
	ScanRecord                       // one operation, live or dead
	ScanTornTail                     // a torn write at the end of the journal, which Open would cut
	ScanCorrupt                      // corruption, which makes Open fail
)

// String returns a short lower-case name of the kind.
func (k ScanKind) String() string {
	switch k {
	case ScanFile:
		return "file"
	case ScanRecord:
		return "record"
	case ScanTornTail:
		return "torn-tail"
	case ScanCorrupt:
		return "corrupt"
	}
	return fmt.Sprintf("ScanKind(%d)", uint8(k))
}

// ScanEntry is one thing Scan found.
type ScanEntry struct {
	Kind   ScanKind
	File   string     // base name of the file
	Header FileHeader // header of the file (zero if the header itself is corrupt)
	Size   int64      // ScanFile: size of the file in bytes
	End    int64      // ScanFile: offset where the file's good frames end
	Offset int64      // ScanRecord: offset of the operation; ScanTornTail, ScanCorrupt: where the problem starts
	Frame  int64      // ScanRecord: offset of the frame holding the operation
	Op     Op         // ScanRecord: the operation; Op.Data is only valid during the call
	Err    error      // ScanTornTail, ScanCorrupt: what is wrong
}

// ScanFunc receives the entries of Scan in order: for each data file in
// sequence order a ScanFile entry, then a ScanRecord entry per operation, then at
// most one ScanTornTail or ScanCorrupt entry. Returning an error stops Scan,
// which returns that error.
type ScanFunc func(e ScanEntry) error

// Scan reads the journal with the given prefix ("" means "tandem") in dir without
// modifying anything and reports every file header and every operation,
// including dead ones, to fn. It sees the directory the way Open would: a
// committed but unfinished compaction counts as finished, files of unfinished
// work are ignored. A torn tail is reported as a ScanTornTail entry and is not an
// error; corruption is reported as a ScanCorrupt entry, scanning goes on, and
// Scan returns the first corruption error (wrapping ErrCorrupt).
func Scan(dir, prefix string, fn ScanFunc) error { return ScanFS(OSFS{}, dir, prefix, fn) }

// ScanFS is Scan on the given file system.
func ScanFS(fs FS, dir, prefix string, fn ScanFunc) error {
	if prefix == "" {
		prefix = "tandem"
	}
	names, err := fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("journal: list %s: %w", dir, err)
	}
	var first error
	report := func(e ScanEntry) error {
		if e.Kind == ScanCorrupt && first == nil {
			first = e.Err
		}
		return fn(e)
	}

	// The directory as recovery would leave it.
	view := make(map[uint64]string)
	for _, n := range names {
		if kind, seq := parseName(prefix, n); kind == nameData {
			view[seq] = n
		}
	}
	if slices.Contains(names, ctlName(prefix)) {
		b, err := readSmallFile(fs, filepath.Join(dir, ctlName(prefix)))
		oldSeqs, newSeqs, reason := decodeControl(b)
		if err != nil {
			reason = err.Error()
		}
		if reason != "" {
			cerr := corruptf(ctlName(prefix), 0, "%s", reason)
			if err := report(ScanEntry{Kind: ScanCorrupt, File: ctlName(prefix), Err: cerr}); err != nil {
				return err
			}
		} else {
			for _, s := range oldSeqs {
				delete(view, s)
			}
			for _, s := range newSeqs {
				if n := cmpName(prefix, s); slices.Contains(names, n) {
					view[s] = n
				} else if n := dataName(prefix, s); slices.Contains(names, n) {
					view[s] = n
				}
			}
		}
	}

	type scanned struct {
		name string
		f    File
		h    FileHeader
		size int64
		w    walkResult
	}
	var files []*scanned
	defer func() {
		for _, s := range files {
			s.f.Close()
		}
	}()
	seqs := make([]uint64, 0, len(view))
	for s := range view {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	var buf []byte
	for _, seq := range seqs {
		name := view[seq]
		f, h, size, err := openData(fs, filepath.Join(dir, name), name, seq, os.O_RDONLY)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return err
			}
			// Header is what could be decoded: a header that names
			// another sequence number than the file does still says which.
			if err := report(ScanEntry{Kind: ScanCorrupt, File: name, Header: h, Err: err}); err != nil {
				return err
			}
			continue
		}
		s := &scanned{name: name, f: f, h: h, size: size}
		files = append(files, s)
		if buf, err = readAll(f, size, buf); err != nil {
			return fmt.Errorf("journal: read %s: %w", name, err)
		}
		s.w, _ = walkFrames(buf, h.Gen, nil)
	}
	tail := -1
	for i, s := range files {
		if s.w.hasData() {
			tail = i
		}
	}
	for i, s := range files {
		if err := report(ScanEntry{Kind: ScanFile, File: s.name, Header: s.h, Size: s.size, End: s.w.end}); err != nil {
			return err
		}
		if buf, err = readAll(s.f, s.w.end, buf); err != nil {
			return fmt.Errorf("journal: read %s: %w", s.name, err)
		}
		for off := int64(headerSize); off < s.w.end; {
			frame := buf[off : off+int64(leUint32(buf[off+4:]))]
			for p := frameHeaderSize; p < len(frame); {
				v, np := nextOp(frame, p)
				e := ScanEntry{
					Kind: ScanRecord, File: s.name, Header: s.h, Offset: off + int64(p), Frame: off,
					Op: Op{Kind: v.Kind, ID: v.ID, Type: v.Type, Data: v.Data},
				}
				if err := report(e); err != nil {
					return err
				}
				p = np
			}
			off = align8(off + int64(len(frame)))
		}
		torn, verr := verdict(s.name, s.h, i == tail, s.w)
		switch {
		case torn:
			e := ScanEntry{Kind: ScanTornTail, File: s.name, Header: s.h, Offset: s.w.end, Err: errors.New(s.w.problem)}
			if err := report(e); err != nil {
				return err
			}
		case verr != nil:
			if err := report(ScanEntry{Kind: ScanCorrupt, File: s.name, Header: s.h, Offset: s.w.end, Err: verr}); err != nil {
				return err
			}
		}
	}
	return first
}

// walkResult describes how the frames of one file end.
type walkResult struct {
	end         int64  // offset just past the last good frame
	problem     string // why the data does not end cleanly at end; empty if it does
	later       bool   // a good frame exists beyond end
	laterOff    int64  // offset of the first such frame
	laterSynced int64  // highest sync watermark among them
}

// hasData reports whether the file holds anything of its own generation.
func (w walkResult) hasData() bool { return w.end > headerSize || w.problem != "" }

// walkFrames walks the good frames of a file image, calling fn for each, stops at
// the first offset without a good frame, and then scans the rest of the image for
// good frames of the same generation, which tell a torn write from corruption.
// The frame slice passed to fn aliases data.
func walkFrames(data []byte, gen uint64, fn func(off int64, frame []byte) error) (walkResult, error) {
	return walkRegion(data, 0, headerSize, gen, fn)
}

// walkRegion is walkFrames on part of a file: data holds the file's bytes from
// offset base to the end of the file, and the walk starts at offset start (a
// frame boundary at or after base). Offsets are the file's.
func walkRegion(data []byte, base, start int64, gen uint64, fn func(off int64, frame []byte) error) (walkResult, error) {
	var w walkResult
	limit := base + int64(len(data))
	off := start
	for off+frameHeaderSize <= limit && binary.LittleEndian.Uint64(data[off-base+8:]) == gen {
		n, _, reason := checkFrameAt(data[off-base:], off, gen)
		if reason != "" {
			w.problem = reason
			break
		}
		if fn != nil {
			if err := fn(off, data[off-base:off-base+n]); err != nil {
				return w, err
			}
		}
		off = align8(off + n)
	}
	w.end = off
	w.later, w.laterOff, w.laterSynced = scanLater(data, base, off+frameAlign, gen)
	if w.later && w.problem == "" {
		w.problem = fmt.Sprintf("no frame here, but a good frame follows at offset %d", w.laterOff)
	}
	return w, nil
}

// zeroRun is the block of zeros scanLater skips at once.
const zeroRun = 256

var zeroBlock [zeroRun]byte

// scanLater looks for good frames of generation gen at every aligned offset
// from from on, in data holding the file's bytes from offset base. It reports
// the offset of the first and the highest sync watermark among them.
func scanLater(data []byte, base, from int64, gen uint64) (later bool, first, synced int64) {
	for p := from; p-base+frameHeaderSize <= int64(len(data)); p += frameAlign {
		if w := binary.LittleEndian.Uint64(data[p-base+8:]); w != gen {
			if w == 0 {
				// Most of what follows the end is zeros (pre-allocated
				// space), where no generation can match: skip them a
				// block at a time.
				i := p - base + 8
				for i+zeroRun <= int64(len(data)) && bytes.Equal(data[i:i+zeroRun], zeroBlock[:]) {
					i += zeroRun
				}
				// Look next at the generation field at i, the first
				// word not known to be zero.
				if i > p-base+8 {
					p = base + i - 8 - frameAlign
				}
			}
			continue
		}
		n, s, reason := checkFrameAt(data[p-base:], p, gen)
		if reason != "" {
			continue
		}
		if !later {
			later, first = true, p
		}
		synced = max(synced, int64(s))
		p = align8(p+n) - frameAlign
	}
	return later, first, synced
}

// verdict decides what a walk's problem means: a torn write that recovery may
// cut (torn == true), or corruption (err wraps ErrCorrupt). isTail says whether
// the file is the last one with data. See "Recovery: torn tail or corruption" in
// docs/journal-format.md.
func verdict(name string, h FileHeader, isTail bool, w walkResult) (torn bool, err error) {
	if w.problem == "" {
		return false, nil
	}
	if isTail && !h.Compacted && (!w.later || w.laterSynced <= w.end) {
		return true, nil
	}
	why := w.problem
	switch {
	case h.Compacted:
		why += " (in a compaction output, which is synced before it counts)"
	case !isTail:
		why += " (not in the last file with data)"
	case w.later:
		why += fmt.Sprintf(" (the frame at offset %d shows offset %d had already been synced)", w.laterOff, w.laterSynced)
	}
	return false, corruptf(name, w.end, "%s", why)
}

func corruptf(name string, off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, name, off, fmt.Sprintf(format, args...))
}

// readAll reads the first n bytes of f into buf (grown as needed).
func readAll(f File, n int64, buf []byte) ([]byte, error) {
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if n == 0 {
		return buf, nil
	}
	got, err := f.ReadAt(buf, 0)
	if int64(got) == n {
		return buf, nil
	}
	if err == nil {
		err = fmt.Errorf("short read: %d of %d bytes", got, n)
	}
	return buf[:got], err
}
