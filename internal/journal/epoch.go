package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxEpoch returns the highest fencing epoch in the headers of the journal
// files with prefix in dir, reading only the headers. A missing directory
// or an empty journal yields 0. HA activation uses it to choose an epoch
// above every epoch already on disk before it opens the journal.
func MaxEpoch(dir, prefix string) (uint64, error) {
	if prefix == "" {
		prefix = "tandem"
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read journal directory %s: %w", dir, err)
	}
	var top uint64
	buf := make([]byte, headerSize)
	for _, e := range entries {
		kind, _ := parseName(prefix, e.Name())
		if kind != nameData && kind != nameCmp {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, fmt.Errorf("read journal header: %w", err)
		}
		_, err = io.ReadFull(f, buf)
		f.Close()
		if err != nil {
			continue // a file too short for a header holds no epoch
		}
		if h, reason := decodeHeader(buf); reason == "" && h.Epoch > top {
			top = h.Epoch
		}
	}
	return top, nil
}
