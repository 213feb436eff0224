package storelock

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecondHolderRefused(t *testing.T) {
	base := t.TempDir()
	journal, bindings := filepath.Join(base, "journal"), filepath.Join(base, "bindings")
	first := Self("/srv/b1", "b1", "standalone broker")
	// The same directory twice counts once.
	l, err := Acquire([]string{journal, bindings, journal, ""}, first)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		dirs     []string
		instance string
		same     bool
		want     []string
	}{
		{"same instance", []string{journal, bindings}, "/srv/b1", true, []string{"this instance is already running", "pid "}},
		{"another instance", []string{filepath.Join(base, "other"), bindings}, "/srv/twin", false, []string{"in use by pid", "instance /srv/b1", "standalone broker b1", "give this one a store of its own"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Acquire(tc.dirs, Self(tc.instance, "x", "standalone broker"))
			var iu *InUseError
			if !errors.As(err, &iu) || !errors.Is(err, ErrInUse) {
				t.Fatalf("second Acquire = %v, want an InUseError", err)
			}
			if iu.Same != tc.same || iu.Holder.PID != os.Getpid() || iu.Holder.Instance != "/srv/b1" {
				t.Errorf("holder %+v, same %v", iu.Holder, iu.Same)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// A refused Acquire released what it had taken: "other" is free.
	o, err := Acquire([]string{filepath.Join(base, "other")}, Self("", "y", ""))
	if err != nil {
		t.Fatalf("a refused Acquire kept a directory locked: %v", err)
	}
	o.Release()
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	if h, held, err := InUse(journal); err != nil || !held || h.Name != "b1" {
		t.Fatalf("InUse while held = %+v, %v, %v", h, held, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, held, err := InUse(journal); err != nil || held {
		t.Fatalf("InUse after Release = %v, %v", held, err)
	}
	l2, err := Acquire([]string{journal, bindings}, Self("/srv/twin", "twin", "standalone broker"))
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer l2.Release()
	if h, err := ReadHolder(journal); err != nil || h.Instance != "/srv/twin" || h.PID != os.Getpid() || h.Since.IsZero() {
		t.Fatalf("ReadHolder = %+v, %v", h, err)
	}
}

func TestHolderString(t *testing.T) {
	if s := (Holder{}).String(); !strings.Contains(s, "unknown") {
		t.Errorf("empty holder: %q", s)
	}
	s := Holder{PID: 7, Host: "h", Name: "b", Role: "live node", Instance: "/i"}.String()
	if s != "pid 7 on host h (live node b, instance /i)" {
		t.Errorf("holder: %q", s)
	}
}
