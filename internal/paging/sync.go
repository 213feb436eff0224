package paging

import (
	"fmt"
	"os"
)

// syncDir makes a new page file's directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("paging: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("paging: sync directory %s: %w", dir, err)
	}
	return nil
}
