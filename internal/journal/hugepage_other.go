//go:build !linux

package journal

// hugeBlock returns an empty slice with capacity n; huge-page advice is a
// Linux feature.
func hugeBlock(n int) []byte { return make([]byte, 0, n) }
