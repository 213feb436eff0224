//go:build !linux

package journal

// mapForReplay reports false: replay reads with ReadAt where mapping is not
// implemented.
func mapForReplay(File, int64) ([]byte, func(), bool) { return nil, nil, false }
