//go:build !unix

package pidfile

import (
	"errors"
	"os"
)

// tryLock is not available here: pid files are written but cannot tell a
// running broker from a dead one.
func tryLock(*os.File, bool) (bool, error) {
	return false, errors.New("pid file locks need a Unix system")
}
