package storelock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/internal/lockfile"
)

// FileName is the lock file in each directory of a store.
const FileName = "tandem.lock"

// ErrInUse is wrapped by Acquire's error when another process holds the
// lock of a directory.
var ErrInUse = errors.New("storelock: the store is in use by another process")

// Holder says who holds a store, as written in its lock files.
type Holder struct {
	PID      int
	Host     string
	Instance string // the instance directory, if any
	Name     string // the broker name
	Role     string // what holds it: "standalone broker", "live node", "tandem data repair"...
	Since    time.Time
}

// Self returns a Holder describing this process.
func Self(instance, name, role string) Holder {
	host, _ := os.Hostname()
	return Holder{PID: os.Getpid(), Host: host, Instance: instance, Name: name, Role: role, Since: time.Now()}
}

// String describes the holder in a sentence fragment: "pid 4242 on host
// h (standalone broker b1, instance /srv/b1, since 2026-01-02 15:04:05)".
func (h Holder) String() string {
	if h.PID == 0 && h.Host == "" {
		return "an unknown process (its lock file names no holder)"
	}
	var parts []string
	if h.Role != "" || h.Name != "" {
		parts = append(parts, strings.TrimSpace(h.Role+" "+h.Name))
	}
	if h.Instance != "" {
		parts = append(parts, "instance "+h.Instance)
	}
	if !h.Since.IsZero() {
		parts = append(parts, "since "+h.Since.Format("2006-01-02 15:04:05"))
	}
	s := fmt.Sprintf("pid %d on host %s", h.PID, h.Host)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// Lock is a held lock on every directory of a store.
type Lock struct {
	locks []*lockfile.Lock
}

// InUseError is the error of a store another process holds.
type InUseError struct {
	Dir    string
	Holder Holder
	// Same reports that the holder runs the same instance directory as
	// the caller: the instance was started twice.
	Same bool
}

func (e *InUseError) Error() string {
	if e.Same {
		return fmt.Sprintf("this instance is already running: %s holds the store in %s; stop it first (Ctrl-C or SIGTERM to that process), or look for it with 'tandem node status'",
			e.Holder, e.Dir)
	}
	return fmt.Sprintf("the store in %s is in use by %s; two brokers on one store would lose and double messages. Stop that broker first, or give this one a store of its own (tandem create --data DIR, or journal-directory, bindings-directory, paging-directory and large-messages-directory in etc/broker.yaml)",
		e.Dir, e.Holder)
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// Acquire takes the lock of every directory in dirs (created if missing;
// duplicates count once) without waiting, and writes me into each lock
// file. If another process holds one, it releases what it took and
// returns an *InUseError naming that process.
func Acquire(dirs []string, me Holder) (*Lock, error) {
	l := &Lock{}
	seen := map[string]bool{}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			l.Release()
			return nil, fmt.Errorf("storelock: %w", err)
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		if err := os.MkdirAll(abs, 0o755); err != nil {
			l.Release()
			return nil, fmt.Errorf("storelock: create %s: %w", abs, err)
		}
		fl, err := lockfile.Open(filepath.Join(abs, FileName))
		if err != nil {
			l.Release()
			return nil, fmt.Errorf("storelock: %w", err)
		}
		if err := fl.TryLock(); err != nil {
			fl.Close()
			l.Release()
			if errors.Is(err, lockfile.ErrLocked) {
				h, _ := ReadHolder(abs)
				return nil, &InUseError{Dir: abs, Holder: h, Same: me.Instance != "" && h.Instance == me.Instance}
			}
			return nil, fmt.Errorf("storelock: lock %s: %w", abs, err)
		}
		l.locks = append(l.locks, fl)
		if err := writeHolder(fl.File(), me); err != nil {
			l.Release()
			return nil, fmt.Errorf("storelock: %s: %w", fl.Path(), err)
		}
	}
	return l, nil
}

// Release unlocks every directory. The lock files stay; nobody deletes
// them, since a process blocked on one would then hold a lock on a file
// nobody else opens.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	var errs []error
	for _, fl := range slices.Backward(l.locks) {
		errs = append(errs, fl.Close())
	}
	l.locks = nil
	return errors.Join(errs...)
}

// Verify asks the kernel whether every lock is still held and still on the
// file its path names.
func (l *Lock) Verify() error {
	for _, fl := range l.locks {
		if err := fl.Verify(); err != nil {
			return err
		}
	}
	return nil
}

func writeHolder(f *os.File, h Holder) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pid: %d\nhost: %s\n", h.PID, h.Host)
	if h.Role != "" {
		fmt.Fprintf(&b, "role: %s\n", h.Role)
	}
	if h.Name != "" {
		fmt.Fprintf(&b, "name: %s\n", h.Name)
	}
	if h.Instance != "" {
		fmt.Fprintf(&b, "instance: %s\n", h.Instance)
	}
	fmt.Fprintf(&b, "since: %s\n", h.Since.UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(b.String()), 0)
	return err
}

// ReadHolder returns who the lock file of dir says holds it (or held it
// last: the file is not cleared on release). It takes no lock.
func ReadHolder(dir string) (Holder, error) {
	f, err := os.Open(filepath.Join(dir, FileName))
	if err != nil {
		return Holder{}, err
	}
	defer f.Close()
	var h Holder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		switch k {
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "host":
			h.Host = v
		case "role":
			h.Role = v
		case "name":
			h.Name = v
		case "instance":
			h.Instance = v
		case "since":
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				h.Since = t.Local()
			}
		}
	}
	return h, sc.Err()
}

// InUse reports who holds the lock of dir right now, if anyone. It only
// asks the kernel (lockfile.Lock.HeldElsewhere) and never takes the lock,
// so looking cannot make a broker that starts at that moment fail.
func InUse(dir string) (Holder, bool, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return Holder{}, false, nil
	}
	fl, err := lockfile.Open(path)
	if err != nil {
		return Holder{}, false, fmt.Errorf("storelock: %w", err)
	}
	defer fl.Close()
	held, err := fl.HeldElsewhere()
	if err != nil || !held {
		return Holder{}, false, err
	}
	h, _ := ReadHolder(dir)
	return h, true, nil
}

// RoleLive is the Holder.Role of the live node of a shared-store pair,
// the one holder a waiting node expects to find.
const RoleLive = "live node"
