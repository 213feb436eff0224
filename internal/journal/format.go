package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// The constants below are the on-disk format; docs/journal-format.md is their prose
// twin. Changing any of them means a new formatVersion.
const (
	formatVersion = 1

	headerSize      = 64
	frameHeaderSize = 24
	opHeaderSize    = 14

	// frameAlign is the alignment of every frame start. The forward scan that tells
	// torn tails from corruption only has to look at aligned offsets.
	frameAlign = 8

	// flagCompacted marks a compaction output: such a file was fully synced before it
	// counted, so a bad frame in it is never a torn write.
	flagCompacted = 1 << 0

	// MaxBatchSize is the largest encoded batch (frame) the journal accepts.
	MaxBatchSize = 1 << 30

	minFileSize = 1 << 10
	maxFileSize = 1 << 31

	dataExt    = ".tj"
	tmpExt     = ".tj.tmp"
	cmpExt     = ".tj.cmp"
	ctlExt     = ".tjc"
	ctlTmpExt  = ".tjc.tmp"
	seqDigits  = 10
	ctlVersion = 1
)

var (
	fileMagic = [8]byte{'T', 'N', 'D', 'M', 'J', 'R', 'N', 'L'}
	ctlMagic  = [8]byte{'T', 'N', 'D', 'M', 'C', 'M', 'P', 'T'}

	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func align8(n int64) int64 { return (n + frameAlign - 1) &^ (frameAlign - 1) }

// FileHeader is the decoded header of a data file.
type FileHeader struct {
	Version   uint16
	Flags     uint32
	Seq       uint64 // position in replay order
	Gen       uint64 // generation stamped into every frame of this life of the file
	Epoch     uint64 // fencing epoch of the process that created or re-stamped the file
	Compacted bool   // the file is a compaction output
}

func encodeHeader(b []byte, h FileHeader) {
	clear(b[:headerSize])
	copy(b[0:8], fileMagic[:])
	binary.LittleEndian.PutUint16(b[8:], formatVersion)
	binary.LittleEndian.PutUint16(b[10:], headerSize)
	flags := h.Flags
	if h.Compacted {
		flags |= flagCompacted
	}
	binary.LittleEndian.PutUint32(b[12:], flags)
	binary.LittleEndian.PutUint64(b[16:], h.Seq)
	binary.LittleEndian.PutUint64(b[24:], h.Gen)
	binary.LittleEndian.PutUint64(b[32:], h.Epoch)
	binary.LittleEndian.PutUint32(b[60:], crc(b[:60]))
}

// decodeHeader validates and decodes a file header. The returned reason is empty
// on success and says what is wrong otherwise.
func decodeHeader(b []byte) (FileHeader, string) {
	var h FileHeader
	if len(b) < headerSize {
		return h, "file shorter than its header"
	}
	if [8]byte(b[0:8]) != fileMagic {
		return h, "bad magic (not a journal file)"
	}
	if got, want := binary.LittleEndian.Uint32(b[60:]), crc(b[:60]); got != want {
		return h, fmt.Sprintf("header checksum mismatch (stored %08x, computed %08x)", got, want)
	}
	h.Version = binary.LittleEndian.Uint16(b[8:])
	if h.Version != formatVersion {
		return h, fmt.Sprintf("unsupported format version %d (this build reads %d)", h.Version, formatVersion)
	}
	if hs := binary.LittleEndian.Uint16(b[10:]); hs != headerSize {
		return h, fmt.Sprintf("unexpected header size %d", hs)
	}
	h.Flags = binary.LittleEndian.Uint32(b[12:])
	h.Compacted = h.Flags&flagCompacted != 0
	h.Seq = binary.LittleEndian.Uint64(b[16:])
	h.Gen = binary.LittleEndian.Uint64(b[24:])
	h.Epoch = binary.LittleEndian.Uint64(b[32:])
	if h.Gen == 0 {
		return h, "zero generation"
	}
	return h, ""
}

// opSize is the encoded size of one operation.
func opSize(op *Op) int64 {
	if op.Kind == OpDelete {
		return opHeaderSize
	}
	return opHeaderSize + int64(len(op.Data))
}

// batchSize validates ops and returns their encoded size, frame header excluded.
func batchSize(ops []Op) (int64, error) {
	var n int64
	for i := range ops {
		switch ops[i].Kind {
		case OpAdd, OpUpdate, OpDelete:
		default:
			return 0, fmt.Errorf("%w: op %d has kind %d", ErrInvalidOp, i, ops[i].Kind)
		}
		n += opSize(&ops[i])
		if n > MaxBatchSize-frameHeaderSize {
			return 0, fmt.Errorf("%w: batch of %d ops exceeds %d bytes", ErrTooLarge, len(ops), MaxBatchSize)
		}
	}
	return n, nil
}

// appendOp encodes op at the end of b. It never allocates when b has room.
func appendOp(b []byte, op *Op) []byte {
	var h [opHeaderSize]byte
	h[0] = byte(op.Kind)
	var data []byte
	if op.Kind != OpDelete {
		h[1] = op.Type
		data = op.Data
	}
	binary.LittleEndian.PutUint32(h[2:], uint32(len(data)))
	binary.LittleEndian.PutUint64(h[6:], op.ID)
	b = append(b, h[:]...)
	return append(b, data...)
}

// sealFrame fills in the header of the frame occupying all of b (whose first
// frameHeaderSize bytes were reserved) and returns b padded to frameAlign.
func sealFrame(b []byte, gen uint64, synced uint32, count uint32) []byte {
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	binary.LittleEndian.PutUint64(b[8:], gen)
	binary.LittleEndian.PutUint32(b[16:], synced)
	binary.LittleEndian.PutUint32(b[20:], count)
	binary.LittleEndian.PutUint32(b[0:], crc(b[4:]))
	for len(b)%frameAlign != 0 {
		b = append(b, 0)
	}
	return b
}

// opView is one decoded operation inside a frame; Data aliases the frame buffer.
type opView struct {
	Kind OpKind
	Type uint8
	ID   uint64
	Data []byte
	Size uint32 // encoded size
}

// nextOp decodes the operation at frame[p:]. The frame must have been validated
// by checkFrame.
func nextOp(frame []byte, p int) (opView, int) {
	n := int(binary.LittleEndian.Uint32(frame[p+2:]))
	v := opView{
		Kind: OpKind(frame[p]),
		Type: frame[p+1],
		ID:   binary.LittleEndian.Uint64(frame[p+6:]),
		Data: frame[p+opHeaderSize : p+opHeaderSize+n : p+opHeaderSize+n],
		Size: uint32(opHeaderSize + n),
	}
	return v, p + opHeaderSize + n
}

// checkFrame validates the frame at data[off:]. It returns the frame's unpadded
// length and an empty reason when the frame is good.
func checkFrame(data []byte, off int64, gen uint64) (n int64, synced uint32, reason string) {
	if off+frameHeaderSize > int64(len(data)) {
		return 0, 0, "frame header cut short"
	}
	return checkFrameAt(data[off:], off, gen)
}

// checkFrameAt is checkFrame for a frame whose bytes start h (h runs to the
// end of the file, or of what was read of it) and which sits at file offset
// off, which the sync watermark is checked against.
func checkFrameAt(h []byte, off int64, gen uint64) (n int64, synced uint32, reason string) {
	if len(h) < frameHeaderSize {
		return 0, 0, "frame header cut short"
	}
	if binary.LittleEndian.Uint64(h[8:]) != gen {
		return 0, 0, "generation mismatch"
	}
	n = int64(binary.LittleEndian.Uint32(h[4:]))
	if n < frameHeaderSize+opHeaderSize {
		return 0, 0, fmt.Sprintf("frame length %d too small", n)
	}
	if n > int64(len(h)) {
		return 0, 0, fmt.Sprintf("frame length %d runs past the end of the file", n)
	}
	synced = binary.LittleEndian.Uint32(h[16:])
	if int64(synced) > off {
		return 0, 0, fmt.Sprintf("sync watermark %d beyond the frame", synced)
	}
	frame := h[:n]
	if got, want := binary.LittleEndian.Uint32(frame), crc(frame[4:]); got != want {
		return 0, 0, fmt.Sprintf("frame checksum mismatch (stored %08x, computed %08x)", got, want)
	}
	count := binary.LittleEndian.Uint32(frame[20:])
	if count == 0 {
		return 0, 0, "frame without operations"
	}
	p := int64(frameHeaderSize)
	for i := uint32(0); i < count; i++ {
		if p+opHeaderSize > n {
			return 0, 0, fmt.Sprintf("operation %d cut short", i)
		}
		switch OpKind(frame[p]) {
		case OpAdd, OpUpdate, OpDelete:
		default:
			return 0, 0, fmt.Sprintf("operation %d has unknown kind %d", i, frame[p])
		}
		p += opHeaderSize + int64(binary.LittleEndian.Uint32(frame[p+2:]))
		if p > n {
			return 0, 0, fmt.Sprintf("operation %d payload runs past the frame", i)
		}
	}
	if p != n {
		return 0, 0, fmt.Sprintf("%d bytes after the last operation", n-p)
	}
	return n, synced, ""
}

// File names.

func dataName(prefix string, seq uint64) string { return seqName(prefix, seq) + dataExt }
func tmpName(prefix string, seq uint64) string  { return seqName(prefix, seq) + tmpExt }
func cmpName(prefix string, seq uint64) string  { return seqName(prefix, seq) + cmpExt }
func seqName(prefix string, seq uint64) string  { return fmt.Sprintf("%s-%0*d", prefix, seqDigits, seq) }
func ctlName(prefix string) string              { return prefix + ctlExt }
func ctlTmpName(prefix string) string           { return prefix + ctlTmpExt }

type nameKind uint8

const (
	nameOther nameKind = iota
	nameData
	nameTmp
	nameCmp
	nameCtl
	nameCtlTmp
)

// parseName classifies a directory entry of the journal with the given prefix.
func parseName(prefix, name string) (nameKind, uint64) {
	switch name {
	case ctlName(prefix):
		return nameCtl, 0
	case ctlTmpName(prefix):
		return nameCtlTmp, 0
	}
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return nameOther, 0
	}
	kind := nameOther
	for _, s := range []struct {
		ext  string
		kind nameKind
	}{{tmpExt, nameTmp}, {cmpExt, nameCmp}, {dataExt, nameData}} {
		if r, ok := strings.CutSuffix(rest, s.ext); ok {
			rest, kind = r, s.kind
			break
		}
	}
	if kind == nameOther || len(rest) < seqDigits {
		return nameOther, 0
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return nameOther, 0
		}
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return nameOther, 0
	}
	return kind, seq
}

// Control file.

func encodeControl(oldSeqs, newSeqs []uint64) []byte {
	b := make([]byte, 24, 24+8*(len(oldSeqs)+len(newSeqs))+4)
	copy(b, ctlMagic[:])
	binary.LittleEndian.PutUint32(b[8:], ctlVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(oldSeqs)))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(newSeqs)))
	for _, s := range oldSeqs {
		b = binary.LittleEndian.AppendUint64(b, s)
	}
	for _, s := range newSeqs {
		b = binary.LittleEndian.AppendUint64(b, s)
	}
	return binary.LittleEndian.AppendUint32(b, crc(b))
}

func decodeControl(b []byte) (oldSeqs, newSeqs []uint64, reason string) {
	if len(b) < 28 || [8]byte(b[0:8]) != ctlMagic {
		return nil, nil, "not a compaction control file"
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != ctlVersion {
		return nil, nil, fmt.Sprintf("unsupported control file version %d", v)
	}
	a := int64(binary.LittleEndian.Uint32(b[12:]))
	n := int64(binary.LittleEndian.Uint32(b[16:]))
	if int64(len(b)) != 24+8*(a+n)+4 {
		return nil, nil, "control file length does not match its counts"
	}
	body := b[:len(b)-4]
	if got, want := binary.LittleEndian.Uint32(b[len(b)-4:]), crc(body); got != want {
		return nil, nil, "control file checksum mismatch"
	}
	p := 24
	for i := int64(0); i < a; i++ {
		oldSeqs = append(oldSeqs, binary.LittleEndian.Uint64(b[p:]))
		p += 8
	}
	for i := int64(0); i < n; i++ {
		newSeqs = append(newSeqs, binary.LittleEndian.Uint64(b[p:]))
		p += 8
	}
	return oldSeqs, newSeqs, ""
}

func leUint32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func leUint64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
