package journal

import (
	"errors"
	"syscall"
	"unsafe"
)

// directAlign is the alignment of every direct write: its offset, its length
// and its buffer's address. 4 KiB is a multiple of every logical block size a
// Linux block device reports up to 4 KiB, so it is valid everywhere.
const directAlign = 4096

// DirectFS is an FS that can also open a file for direct I/O (O_DIRECT on
// Linux), whose writes go to the device without passing through the page
// cache. The journal writes its frames that way where it can: the fdatasync
// after a direct write only has to flush the device's cache, not write the
// page back first, and on this project's test machine a lone confirmed
// producer got 6-30% faster for it, with less CPU per message
// (docs/benchmarks.md). A direct write must be aligned (see directAlign), so
// the journal keeps the current file's last partial block in memory and
// rewrites it, with the same bytes before the new frame and zeros after.
type DirectFS interface {
	// OpenDirect opens an existing file for direct writes.
	OpenDirect(name string) (File, error)
}

// directTail is the writer's direct handle on the current file.
type directTail struct {
	disabled bool      // direct writes are turned off or unsupported here
	told     bool      // the log says direct writes are on
	file     *dataFile // the file the handle is for; nil when none
	h        File      // O_DIRECT handle on file, nil to write file through the page cache
	blk      int64     // offset of the block tail holds
	tail     []byte    // the bytes [blk, file.end) of file, aligned, directAlign long
	buf      []byte    // aligned staging buffer
}

// alignedBuf returns n bytes whose address is a multiple of directAlign.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&b[0])))%directAlign) % directAlign
	return b[skip : skip+n : skip+n]
}

func alignUp(n int64) int64 { return (n + directAlign - 1) &^ (directAlign - 1) }

// writeFrame writes p at off, the end of the current file f: directly when
// the file system allows it, through the page cache otherwise.
func (j *Journal) writeFrame(f *dataFile, p []byte, off int64) error {
	d := &j.direct
	blk := off &^ (directAlign - 1)
	if !d.disabled && (d.file != f || blk != d.blk) {
		// A new current file, or (never expected: every write advances
		// the block) an end that moved without the writer: load the
		// block afresh.
		j.openDirect(f)
	}
	pre := off - blk
	end := alignUp(pre + int64(len(p)))
	if d.h == nil || d.file != f || blk+end > f.size {
		// The last block of a file whose size is not a multiple of
		// directAlign cannot be written directly.
		_, err := f.f.WriteAt(p, off)
		if err == nil && d.h != nil && d.file == f {
			d.advance(p, off)
		}
		return err
	}
	if int64(len(d.buf)) < end {
		d.buf = alignedBuf(int(max(end, 64<<10)))
	}
	stage := d.buf[:end]
	copy(stage, d.tail[:pre])
	copy(stage[pre:], p)
	clear(stage[pre+int64(len(p)):])
	if _, err := d.h.WriteAt(stage, blk); err != nil {
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		// Some file systems open with O_DIRECT and then refuse the
		// write itself; the call was rejected before any I/O, so the
		// frame can still go through the page cache.
		j.log.Warn("journal: the file system refused a direct write; writing through the page cache from now on", "dir", j.opts.Dir, "err", err)
		j.closeDirect()
		d.disabled = true
		_, err = f.f.WriteAt(p, off)
		return err
	}
	d.advance(p, off)
	if len(d.buf) > 4<<20 {
		d.buf = nil // a rare huge frame: do not keep its buffer
	}
	return nil
}

// advance moves the block in memory past p, just written at off, which
// continues it.
func (d *directTail) advance(p []byte, off int64) {
	end := off + int64(len(p))
	next := end &^ (directAlign - 1)
	if next == d.blk {
		copy(d.tail[off-d.blk:], p)
	} else {
		copy(d.tail, p[next-off:])
	}
	d.blk = next
}

// openDirect points the direct handle at f, the new current file, and loads
// f's last partial block. When the file system cannot do direct I/O, or
// that block cannot be read, direct writes are off for the journal's
// lifetime and frames go through the page cache.
func (j *Journal) openDirect(f *dataFile) {
	d := &j.direct
	j.closeDirect()
	d.file = f
	dfs, ok := j.fs.(DirectFS)
	// Without Sync a buffered write returns at memory speed, where a
	// direct one waits for the device.
	if !ok || j.opts.BufferedWrites || !j.opts.Sync {
		d.disabled = true
		return
	}
	h, err := dfs.OpenDirect(j.path(f.name))
	if err != nil {
		d.disabled = true
		j.log.Info("journal: direct I/O unavailable, writing through the page cache", "dir", j.opts.Dir, "err", err)
		return
	}
	if d.tail == nil {
		d.tail = alignedBuf(directAlign)
	}
	d.blk = f.end &^ (directAlign - 1)
	if n := f.end - d.blk; n > 0 {
		if _, err := f.f.ReadAt(d.tail[:n], d.blk); err != nil {
			h.Close()
			d.disabled = true
			j.log.Warn("journal: could not read the last block of a file; writing through the page cache from now on", "file", f.name, "err", err)
			return
		}
	}
	d.h = h
	if !d.told {
		d.told = true
		j.log.Info("journal: writing with direct I/O", "dir", j.opts.Dir)
	}
}

// closeDirect closes the direct handle, if any.
func (j *Journal) closeDirect() {
	d := &j.direct
	if d.h != nil {
		d.h.Close()
	}
	d.h, d.file = nil, nil
}
