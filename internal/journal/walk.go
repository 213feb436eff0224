package journal

import (
	"encoding/binary"
	"fmt"
)

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
	var w walkResult
	off := int64(headerSize)
	for frameGen(data, off, gen) {
		n, _, reason := checkFrame(data, off, gen)
		if reason != "" {
			w.problem = reason
			break
		}
		if fn != nil {
			if err := fn(off, data[off:off+n]); err != nil {
				return w, err
			}
		}
		off = align8(off + n)
	}
	w.end = off
	for p := off + frameAlign; p+frameHeaderSize <= int64(len(data)); p += frameAlign {
		if binary.LittleEndian.Uint64(data[p+8:]) != gen {
			continue
		}
		n, synced, reason := checkFrame(data, p, gen)
		if reason != "" {
			continue
		}
		if !w.later {
			w.later, w.laterOff = true, p
		}
		w.laterSynced = max(w.laterSynced, int64(synced))
		p = align8(p+n) - frameAlign
	}
	if w.later && w.problem == "" {
		w.problem = fmt.Sprintf("no frame here, but a good frame follows at offset %d", w.laterOff)
	}
	return w, nil
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
