package ha

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"tandem/internal/lockfile"
)

// The names of the lock files in the journal directory (docs/ha.md, 1).
const (
	stateFileName  = "server.lock"
	liveFileName   = "live.lock"
	backupFileName = "backup.lock"
)

// The byte ranges of server.lock: the record lock covers the first page,
// the claim lock a byte past it, so that the two never conflict and locking
// the claim never extends the file.
const (
	recordLockStart = 0
	recordLockLen   = 4096
	claimLockStart  = 4096
	claimLockLen    = 1
)

// The record layout (docs/ha.md, 1.1).
const (
	recordSize    = 128
	recordVersion = 1
	recordMagic   = "TNDMSTAT"
	nameSize      = 64
	crcOffset     = recordSize - 4
)

// ErrDamaged is wrapped by errors about a state file whose magic, version,
// size, state letter or checksum does not check out. Waiting cannot cure
// it: an operator has to look.
var ErrDamaged = errors.New("ha: state file is damaged")

// ErrNoRecord is returned by ReadRecord when server.lock is missing or
// empty: no node has opened the store yet.
var ErrNoRecord = errors.New("ha: no state file yet")

// castagnoli is built per call site rather than kept in a package variable;
// crc32.MakeTable caches it, so this costs nothing after the first call.
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// StoreState is the state letter of server.lock. The letters are Artemis'
// so that an operator who knows Artemis can read `od -c server.lock`.
type StoreState byte

// The four store states (docs/ha.md, 2.7).
const (
	// StoreNew means the store was initialised but no node was ever live.
	StoreNew StoreState = 'N'
	// StoreLive means a node activated and, unless it crashed, is live.
	StoreLive StoreState = 'L'
	// StorePaused means the live stopped without failover-on-shutdown.
	StorePaused StoreState = 'P'
	// StoreFailingBack means a primary asked the live backup to hand over.
	StoreFailingBack StoreState = 'F'
)

// String returns the state letter.
func (s StoreState) String() string {
	switch s {
	case StoreNew, StoreLive, StorePaused, StoreFailingBack:
		return string(rune(s))
	}
	return fmt.Sprintf("StoreState(%#x)", byte(s))
}

// Role is the configured role of a node. It never changes at run time;
// either role can be live.
type Role int

// The two roles of ha-policy shared-store.
const (
	Primary Role = iota + 1
	Backup
)

// String returns "primary" or "backup".
func (r Role) String() string {
	switch r {
	case Primary:
		return "primary"
	case Backup:
		return "backup"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// letter is the role as stored in the record.
func (r Role) letter() byte {
	if r == Primary {
		return 'P'
	}
	return 'B'
}

// Record is the content of server.lock. Only State, NodeID and Epoch drive
// decisions; the other fields describe the last writer for logs, the
// console and `tandem node status`.
type Record struct {
	State  StoreState
	Role   Role      // role of the last writer
	NodeID string    // the store's id, a version 4 UUID
	Epoch  uint64    // incremented by every activation
	Time   time.Time // when the record was last written
	PID    int       // process id of the last writer
	Name   string    // instance name of the last writer
}

// Who describes the last writer as "NAME (role, pid N)" for log lines.
func (r Record) Who() string {
	name := r.Name
	if name == "" {
		name = "unnamed node"
	}
	return fmt.Sprintf("%s (%s, pid %d)", name, r.Role, r.PID)
}

// marshal encodes r in the 128-byte layout of docs/ha.md 1.1.
func (r Record) marshal() ([]byte, error) {
	id, err := parseNodeID(r.NodeID)
	if err != nil {
		return nil, err
	}
	b := make([]byte, recordSize)
	copy(b[0:8], recordMagic)
	binary.LittleEndian.PutUint16(b[8:10], recordVersion)
	binary.LittleEndian.PutUint16(b[10:12], recordSize)
	b[12] = byte(r.State)
	b[13] = r.Role.letter()
	copy(b[16:32], id[:])
	binary.LittleEndian.PutUint64(b[32:40], r.Epoch)
	binary.LittleEndian.PutUint64(b[40:48], uint64(r.Time.UnixNano()))
	binary.LittleEndian.PutUint32(b[48:52], uint32(r.PID))
	copy(b[56:56+nameSize], truncateUTF8(r.Name, nameSize))
	binary.LittleEndian.PutUint32(b[crcOffset:], crc32.Checksum(b[:crcOffset], castagnoli()))
	return b, nil
}

// unmarshalRecord decodes and checks a record. Errors wrap ErrDamaged and
// say which check failed, for the operator.
func unmarshalRecord(b []byte) (Record, error) {
	if len(b) < recordSize {
		return Record{}, fmt.Errorf("%w: %d bytes, want %d", ErrDamaged, len(b), recordSize)
	}
	switch {
	case string(b[0:8]) != recordMagic:
		return Record{}, fmt.Errorf("%w: bad magic %q", ErrDamaged, b[0:8])
	case binary.LittleEndian.Uint16(b[8:10]) != recordVersion:
		return Record{}, fmt.Errorf("%w: format version %d, this build reads %d", ErrDamaged, binary.LittleEndian.Uint16(b[8:10]), recordVersion)
	case binary.LittleEndian.Uint16(b[10:12]) != recordSize:
		return Record{}, fmt.Errorf("%w: record size %d, want %d", ErrDamaged, binary.LittleEndian.Uint16(b[10:12]), recordSize)
	case binary.LittleEndian.Uint32(b[crcOffset:]) != crc32.Checksum(b[:crcOffset], castagnoli()):
		return Record{}, fmt.Errorf("%w: checksum mismatch", ErrDamaged)
	}
	r := Record{
		State:  StoreState(b[12]),
		NodeID: formatNodeID([16]byte(b[16:32])),
		Epoch:  binary.LittleEndian.Uint64(b[32:40]),
		Time:   time.Unix(0, int64(binary.LittleEndian.Uint64(b[40:48]))),
		PID:    int(binary.LittleEndian.Uint32(b[48:52])),
		Name:   string(bytes.TrimRight(b[56:56+nameSize], "\x00")),
	}
	switch r.State {
	case StoreNew, StoreLive, StorePaused, StoreFailingBack:
	default:
		return Record{}, fmt.Errorf("%w: unknown state %q", ErrDamaged, b[12])
	}
	switch b[13] {
	case 'P':
		r.Role = Primary
	case 'B':
		r.Role = Backup
	default:
		return Record{}, fmt.Errorf("%w: unknown writer role %q", ErrDamaged, b[13])
	}
	return r, nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character, so
// the console never shows a mangled name.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// newNodeID returns a random version 4 UUID.
func newNodeID() (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("ha: create node id: %w", err)
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return formatNodeID(id), nil
}

// formatNodeID writes id in the usual 8-4-4-4-12 form.
func formatNodeID(id [16]byte) string {
	h := hex.EncodeToString(id[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// parseNodeID is the inverse of formatNodeID.
func parseNodeID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, fmt.Errorf("ha: node id %q is not a UUID", s)
	}
	raw := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(id[:], []byte(raw)); err != nil {
		return id, fmt.Errorf("ha: node id %q is not a UUID: %w", s, err)
	}
	return id, nil
}

// readRecordAt reads the record from f. It reports empty for a file of
// size 0, the one case in which a node may initialise the store.
func readRecordAt(f *os.File) (rec Record, empty bool, err error) {
	b := make([]byte, recordSize)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Record{}, false, fmt.Errorf("ha: read %s: %w", f.Name(), err)
	}
	if n == 0 {
		return Record{}, true, nil
	}
	rec, err = unmarshalRecord(b[:n])
	return rec, false, err
}

// tornReadRetries is how often ReadRecord rereads a record whose checksum
// fails: it takes no lock, so it can meet a write in progress.
const tornReadRetries = 3

// ReadRecord reads the record of the store in dir without taking any lock,
// for `tandem node status`, the console, the announcer and tests. It never
// creates or changes a file. Since it bypasses the record lock it can meet
// a write in progress; it rereads a few times before calling a record
// damaged. It returns an error wrapping ErrNoRecord if no node has opened
// the store, and one wrapping ErrDamaged if the record does not check out.
func ReadRecord(dir string) (Record, error) {
	path := filepath.Join(dir, stateFileName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, fmt.Errorf("%w: %s does not exist", ErrNoRecord, path)
	}
	if err != nil {
		return Record{}, fmt.Errorf("ha: %w", err)
	}
	defer f.Close()
	for try := 1; ; try++ {
		rec, empty, err := readRecordAt(f)
		switch {
		case empty:
			return Record{}, fmt.Errorf("%w: %s is empty", ErrNoRecord, path)
		case err == nil:
			return rec, nil
		case !errors.Is(err, ErrDamaged) || try == tornReadRetries:
			return Record{}, fmt.Errorf("%s: %w", path, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// ErrLive is wrapped by LockOffline's error when a node of the pair is
// live on the store.
var ErrLive = errors.New("ha: a node is live on this store")

// LockOffline takes live.lock of the shared store in dir without waiting
// and without touching the record, for an offline tool that changes the
// store (tandem data repair): while it is held no node activates. Waiting
// nodes stay blocked on the lock and activate once it is closed. It fails
// with ErrLive when a node holds the lock.
func LockOffline(dir string) (*lockfile.Lock, error) {
	l, err := lockfile.Open(filepath.Join(dir, liveFileName))
	if err != nil {
		return nil, explain(err)
	}
	if err := l.TryLock(); err != nil {
		l.Close()
		if errors.Is(err, lockfile.ErrLocked) {
			return nil, fmt.Errorf("%w: %s is held; stop the live node first", ErrLive, l.Path())
		}
		return nil, explain(err)
	}
	return l, nil
}
