//go:build !unix

package lockfile

import (
	"context"
	"errors"
	"os"
)

// Systems without flock or fcntl locks (Windows, wasm) cannot run a shared
// store; every operation reports errors.ErrUnsupported so that the broker
// refuses a shared-store configuration with a clear error instead of
// running without mutual exclusion.

func checkSpan(span) error { return errors.ErrUnsupported }

func tryLock(*os.File, span) error { return errors.ErrUnsupported }

func unlock(*os.File, span) error { return nil }

func waitLock(context.Context, *os.File, span) error { return errors.ErrUnsupported }

func probe(_, _ *os.File, _ span) (string, error) { return "", errors.ErrUnsupported }

func held(*os.File, span) (bool, error) { return false, errors.ErrUnsupported }
