package ha

import (
	"bufio"
	"encoding/binary"
	"errors"
	"go/parser"
	"go/token"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sampleRecord(t *testing.T) Record {
	t.Helper()
	id, err := newNodeID()
	if err != nil {
		t.Fatal(err)
	}
	return Record{State: StoreLive, Role: Backup, NodeID: id, Epoch: 42,
		Time: time.Unix(0, 1_700_000_000_123_456_789), PID: 4321, Name: "slave"}
}

func TestRecordRoundTrip(t *testing.T) {
	rec := sampleRecord(t)
	b, err := rec.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != recordSize || string(b[:8]) != "TNDMSTAT" || b[12] != 'L' || b[13] != 'B' {
		t.Fatalf("layout: % x", b[:16])
	}
	if binary.LittleEndian.Uint64(b[32:40]) != 42 || binary.LittleEndian.Uint32(b[48:52]) != 4321 {
		t.Errorf("epoch or pid at the wrong offset: % x", b[32:56])
	}
	got, err := unmarshalRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != rec {
		t.Errorf("round trip: got %+v, want %+v", got, rec)
	}
	if who := got.Who(); who != "slave (backup, pid 4321)" {
		t.Errorf("Who() = %q", who)
	}
}

func TestRecordDamage(t *testing.T) {
	good, err := sampleRecord(t).marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(b []byte)
		fixup bool // recompute the checksum, so another check must catch it
		want  string
	}{
		{"magic", func(b []byte) { b[0] = 'X' }, true, "bad magic"},
		{"version", func(b []byte) { b[8] = 2 }, true, "format version 2"},
		{"size", func(b []byte) { b[10] = 64 }, true, "record size 64"},
		{"state", func(b []byte) { b[12] = 'Z' }, true, "unknown state"},
		{"role", func(b []byte) { b[13] = 'Q' }, true, "unknown writer role"},
		{"bit flip", func(b []byte) { b[33] ^= 1 }, false, "checksum mismatch"},
		{"short", nil, false, "bytes, want 128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			if tc.edit == nil {
				b = b[:100]
			} else {
				tc.edit(b)
			}
			if tc.fixup {
				binary.LittleEndian.PutUint32(b[crcOffset:], crc32.Checksum(b[:crcOffset], castagnoli()))
			}
			_, err := unmarshalRecord(b)
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrDamaged saying %q", err, tc.want)
			}
		})
	}
}

func TestRecordNameTruncation(t *testing.T) {
	rec := sampleRecord(t)
	rec.Name = strings.Repeat("é", 40) // 80 bytes; a cut at 64 splits nothing
	b, err := rec.marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Name) != 64 || !utf8.ValidString(got.Name) {
		t.Errorf("name %q (%d bytes)", got.Name, len(got.Name))
	}
	if s := truncateUTF8("aé", 2); s != "a" {
		t.Errorf("truncateUTF8 split a character: %q", s)
	}
}

func TestNodeID(t *testing.T) {
	a, err := newNodeID()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newNodeID()
	if a == b || len(a) != 36 || a[14] != '4' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Errorf("node ids %s %s: want distinct version 4 UUIDs", a, b)
	}
	id, err := parseNodeID(a)
	if err != nil || formatNodeID(id) != a {
		t.Errorf("parse/format round trip of %s: %v", a, err)
	}
	for _, bad := range []string{"", "not-a-uuid", strings.Repeat("z", 36)} {
		if _, err := parseNodeID(bad); err == nil {
			t.Errorf("parseNodeID(%q) accepted", bad)
		}
	}
	if _, err := (Record{NodeID: "nope"}).marshal(); err == nil {
		t.Error("marshal accepted a record without a node id")
	}
}

func TestReadRecord(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadRecord(dir); !errors.Is(err, ErrNoRecord) {
		t.Errorf("missing file: %v, want ErrNoRecord", err)
	}
	path := filepath.Join(dir, stateFileName)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRecord(dir); !errors.Is(err, ErrNoRecord) {
		t.Errorf("empty file: %v, want ErrNoRecord", err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRecord(dir); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
		t.Errorf("garbage: %v, want ErrDamaged naming the file", err)
	}
	rec := sampleRecord(t)
	b, _ := rec.marshal()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRecord(dir); err != nil || got != rec {
		t.Errorf("ReadRecord = %+v, %v; want %+v", got, err, rec)
	}
	// ReadRecord never creates anything.
	if _, err := os.Stat(filepath.Join(dir, liveFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadRecord created live.lock: %v", err)
	}
}

func TestStrings(t *testing.T) {
	if Primary.String() != "primary" || Backup.String() != "backup" || Role(9).String() != "Role(9)" {
		t.Error("Role.String")
	}
	if StoreFailingBack.String() != "F" || StoreState('x').String() != "StoreState(0x78)" {
		t.Error("StoreState.String")
	}
}

func TestMountinfo(t *testing.T) {
	const info = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/shared rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2,local_lock=none,addr=10.0.0.1
41 22 0:36 / /mnt/old rw,relatime shared:21 - nfs server:/old rw,vers=3,nolock,local_lock=all,addr=10.0.0.2
42 22 0:37 / /mnt/with\040space rw - nfs server:/x rw,vers=4.1,local_lock=posix
43 22 0:38 / /mnt/shared/tandem/inner rw - tmpfs tmpfs rw`
	for _, tc := range []struct {
		path, point, fstype string
		local               bool
	}{
		{"/var/lib/tandem", "/", "ext4", false},
		{"/mnt/shared/tandem", "/mnt/shared", "nfs4", false},
		{"/mnt/sharedx", "/", "ext4", false},
		{"/mnt/old/tandem", "/mnt/old", "nfs", true},
		{"/mnt/with space/j", "/mnt/with space", "nfs", true},
		{"/mnt/shared/tandem/inner/j", "/mnt/shared/tandem/inner", "tmpfs", false},
	} {
		m, ok := mountOf(bufio.NewScanner(strings.NewReader(info)), tc.path)
		if !ok || m.point != tc.point || m.fstype != tc.fstype {
			t.Errorf("mountOf(%s) = %+v, %v; want %s on %s", tc.path, m, ok, tc.fstype, tc.point)
			continue
		}
		local := false
		for _, o := range m.options {
			local = local || o == "nolock" || o == "local_lock=posix" || o == "local_lock=all"
		}
		if local != tc.local {
			t.Errorf("%s: local locking %v, want %v (options %v)", tc.path, local, tc.local, m.options)
		}
	}
	if _, ok := parseMountinfo("too short"); ok {
		t.Error("parsed a malformed line")
	}
	// The real table parses, and the test directory is not refused.
	if err := checkMount(t.TempDir()); err != nil {
		t.Errorf("checkMount on a temporary directory: %v", err)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{
		{Role: Primary},
		{Dir: "/x"},
		{Dir: "/x", Role: Primary, LockCheckPeriod: -1},
	} {
		if _, err := o.normalize(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("normalize(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
	o, err := Options{Dir: "/x", Role: Backup}.normalize()
	if err != nil || o.LockCheckPeriod != DefaultLockCheckPeriod || o.Logger == nil || o.pausedPoll != time.Second || o.retryMax != 30*time.Second {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	if o, _ := (Options{Dir: "/x", Role: Backup, LockCheckPeriod: 5 * time.Second}).normalize(); o.LockCheckPeriod != MaxLockCheckPeriod {
		t.Errorf("period %v, want capped at %v", o.LockCheckPeriod, MaxLockCheckPeriod)
	}
	for _, tc := range []struct {
		period, stall, want time.Duration
		bad                 bool
	}{
		{0, 0, DefaultStallTimeout, false},
		{time.Second, 0, DefaultStallTimeout, false},
		{50 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, false},
		{500 * time.Millisecond, time.Second, 0, true}, // fewer than 4 periods
		{0, time.Minute, 0, true},                      // past MaxStallTimeout
	} {
		o, err := Options{Dir: "/x", Role: Primary, LockCheckPeriod: tc.period, StallTimeout: tc.stall}.normalize()
		if tc.bad != errors.Is(err, ErrInvalidOptions) || !tc.bad && o.StallTimeout != tc.want {
			t.Errorf("period %v, stall timeout %v: got %v, %v", tc.period, tc.stall, o.StallTimeout, err)
		}
	}
}

// TestImports keeps the dependency rule of docs/ha.md: ha knows nothing of
// the broker, the store or the journal; it is handed callbacks instead.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			std := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") && !strings.HasPrefix(path, "tandem")
			if !std && path != "tandem/internal/lockfile" && path != "tandem/internal/fsutil" && !strings.HasPrefix(path, "golang.org/x/sys/") {
				t.Errorf("%s imports %s; ha may import only the standard library, golang.org/x/sys, internal/lockfile and internal/fsutil", name, path)
			}
		}
	}
}
