package server

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"tandem/internal/config"
)

// MemoryEnv names the environment variable that, when set, is the memory
// tandem takes as the machine's (a size such as 512MiB): where the machine
// or its cgroup cannot be read, and in tests that run a broker as if on a
// small machine.
const MemoryEnv = "TANDEM_MEMORY"

// machineMemory returns the memory the broker may count on and where the
// figure came from: TANDEM_MEMORY when set, else the machine's physical
// memory, or the memory limit of the broker's cgroup when that is lower
// (a container's). It returns 0 when none can be read.
func machineMemory() (int64, string, error) {
	if v := os.Getenv(MemoryEnv); v != "" {
		n, err := config.ParseSize(v)
		if err != nil || n <= 0 {
			return 0, "", fmt.Errorf("%s=%q is not a size of memory; expected bytes or a size such as 512MiB", MemoryEnv, v)
		}
		return n, MemoryEnv, nil
	}
	mem, src := physicalMemory(), "physical memory"
	if cg := cgroupMemoryLimit("/sys/fs/cgroup", readFile("/proc/self/cgroup")); cg > 0 && (mem <= 0 || cg < mem) {
		mem, src = cg, "cgroup memory limit"
	}
	return mem, src, nil
}

func readFile(name string) []byte {
	b, _ := os.ReadFile(name)
	return b
}

// cgroupMemoryLimit returns the lowest memory limit set on the cgroup that
// procCgroup (the text of /proc/self/cgroup) names or on any of its
// ancestors, read from the cgroup file systems mounted under root: cgroup
// v2's memory.max on a unified mount, or v1's memory.limit_in_bytes in
// root/memory. It returns 0 when no limit is set or none can be read. Inside
// a container the cgroup path may name the host's hierarchy while root shows
// only the container's part of it, so a path that does not exist is tried
// without its leading directories too, down to root itself.
func cgroupMemoryLimit(root string, procCgroup []byte) int64 {
	var v2, v1 string
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case hasController(parts[1], "memory"):
			v1 = parts[2]
		}
	}
	best := int64(0)
	lower := func(n int64) {
		if n > 0 && (best == 0 || n < best) {
			best = n
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil && v2 != "" {
		for _, dir := range cgroupDirs(root, v2) {
			lower(readLimit(filepath.Join(dir, "memory.max")))
		}
	}
	if v1 != "" {
		for _, dir := range cgroupDirs(filepath.Join(root, "memory"), v1) {
			lower(readLimit(filepath.Join(dir, "memory.limit_in_bytes")))
		}
	}
	return best
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// cgroupDirs returns the directories under mount of cgroup p and of its
// ancestors, from p up to the mount's root, starting from the longest tail
// of p that exists under mount.
func cgroupDirs(mount, p string) []string {
	p = path.Clean("/" + p)
	for {
		if fi, err := os.Stat(filepath.Join(mount, p)); err == nil && fi.IsDir() {
			break
		}
		if p == "/" {
			break
		}
		// Drop the leading directory: the mount shows a subtree.
		rest := strings.TrimPrefix(p, "/")
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			p = rest[i:]
		} else {
			p = "/"
		}
	}
	var dirs []string
	for {
		dirs = append(dirs, filepath.Join(mount, p))
		if p == "/" {
			return dirs
		}
		p = path.Dir(p)
	}
}

// noLimit is above any memory limit a kernel reports as a number: cgroup v1
// writes its "unlimited" as a page-rounded 2^63-1.
const noLimit = 1 << 60

// readLimit reads a cgroup memory limit file: a number of bytes, or "max"
// (v2) or a huge number (v1) for no limit, which it returns as 0.
func readLimit(name string) int64 {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= noLimit {
		return 0
	}
	return n
}
