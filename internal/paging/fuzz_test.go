package paging

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadPage feeds arbitrary bytes to the page reader as the last page of
// a store: opening must cut or refuse it without panicking, and whatever
// reads back must be whole, checksummed records.
func FuzzReadPage(f *testing.F) {
	if golden, err := os.ReadFile(filepath.Join("testdata", "golden.page")); err == nil {
		f.Add(golden)
		f.Add(golden[:len(golden)-5])
	}
	f.Add(encodeHeader(1))
	f.Add([]byte("TDMPAGE\x00garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, pageName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := openPageStore(dir, 1<<20, false, nil)
		if err != nil {
			return
		}
		defer s.Close()
		pos := s.Start()
		for i := 0; i < 1000; i++ {
			recs, err := s.Read(pos, 1<<20)
			if err != nil || len(recs) == 0 {
				return
			}
			pos = recs[len(recs)-1].Next
		}
	})
}

// FuzzDecodePayload checks that no payload makes the record decoder panic
// or allocate beyond the payload's size.
func FuzzDecodePayload(f *testing.F) {
	f.Add(appendRecord(nil, testMessage(1), []uint64{1, 2})[recordHeaderSize:])
	f.Add([]byte{payloadVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, _, err := decodePayload(p)
		if err == nil && m == nil {
			t.Fatal("no message and no error")
		}
	})
}
