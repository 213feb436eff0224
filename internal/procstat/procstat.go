package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ErrFormat reports a /proc file whose content is not what the kernel
// writes there.
var ErrFormat = errors.New("procstat: unexpected format")

// userHZ is the unit of the CPU times in /proc/PID/stat: the kernel
// reports them in USER_HZ ticks, 100 per second on every architecture Go
// runs on (only Alpha differed), whatever the kernel's internal HZ.
const userHZ = 100

// CPU is the CPU time a process has used since it started.
type CPU struct {
	User, System time.Duration
}

// Total is user plus system time.
func (c CPU) Total() time.Duration { return c.User + c.System }

// Sub returns the CPU time used between an earlier sample and c.
func (c CPU) Sub(earlier CPU) CPU {
	return CPU{User: c.User - earlier.User, System: c.System - earlier.System}
}

// ParseStat reads the CPU times out of the content of /proc/PID/stat. The
// second field, the command name in parentheses, may itself hold spaces
// and parentheses, so the fields are counted from the last ')'; utime and
// stime are the 14th and 15th fields of the line.
func ParseStat(b []byte) (CPU, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 || bytes.IndexByte(b, '(') < 0 {
		return CPU{}, fmt.Errorf("%w: no command name in parentheses in %q", ErrFormat, clip(b))
	}
	// After ") " come the fields from the 3rd (state) on.
	fields := bytes.Fields(b[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return CPU{}, fmt.Errorf("%w: %d fields after the command name, want at least %d", ErrFormat, len(fields), stime+1)
	}
	u, err1 := strconv.ParseUint(string(fields[utime]), 10, 64)
	s, err2 := strconv.ParseUint(string(fields[stime]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return CPU{}, fmt.Errorf("%w: utime %q, stime %q: %w", ErrFormat, fields[utime], fields[stime], err)
	}
	return CPU{User: ticks(u), System: ticks(s)}, nil
}

func ticks(n uint64) time.Duration { return time.Duration(n) * (time.Second / userHZ) }

// ParseRSS reads the resident set size (VmRSS) out of the content of
// /proc/PID/status, in bytes.
func ParseRSS(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%w: VmRSS line %q", ErrFormat, bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: VmRSS line %q: %w", ErrFormat, bytes.TrimSpace(line), err)
		}
		return kb << 10, nil
	}
	// A zombie has no VmRSS line: its memory is already gone.
	return 0, fmt.Errorf("%w: no VmRSS line (has the process exited?)", ErrFormat)
}

// ReadCPU returns the CPU time process pid has used so far.
func ReadCPU(pid int) (CPU, error) {
	b, err := os.ReadFile(path(pid, "stat"))
	if err != nil {
		return CPU{}, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	c, err := ParseStat(b)
	if err != nil {
		return CPU{}, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	return c, nil
}

// ReadRSS returns the resident memory of process pid, in bytes.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(path(pid, "status"))
	if err != nil {
		return 0, fmt.Errorf("resident memory of process %d: %w", pid, err)
	}
	n, err := ParseRSS(b)
	if err != nil {
		return 0, fmt.Errorf("resident memory of process %d: %w", pid, err)
	}
	return n, nil
}

// Self is the pid ReadCPU and ReadRSS take for the calling process.
const Self = 0

func path(pid int, file string) string {
	if pid == Self {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
