package server

import (
	"os"
	"path/filepath"
	"testing"
)

// writeCgroupFiles lays out files (path -> content) under root.
func writeCgroupFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		proc  string
		want  int64
	}{
		{
			name: "v2, limit on the broker's cgroup",
			files: map[string]string{
				"cgroup.controllers":             "cpu memory",
				"memory.max":                     "max\n",
				"system.slice/memory.max":        "max\n",
				"system.slice/tandem/memory.max": "536870912\n",
			},
			proc: "0::/system.slice/tandem\n",
			want: 512 << 20,
		},
		{
			name: "v2, a lower limit on an ancestor",
			files: map[string]string{
				"cgroup.controllers":    "memory",
				"app/memory.max":        "268435456\n",
				"app/tandem/memory.max": "max\n",
			},
			proc: "0::/app/tandem\n",
			want: 256 << 20,
		},
		{
			name: "v2 inside a container: the host path is not under the mount",
			files: map[string]string{
				"cgroup.controllers": "memory",
				"memory.max":         "1073741824\n",
			},
			proc: "0::/kubepods/burstable/pod1/abc\n",
			want: 1 << 30,
		},
		{
			name: "v2, no limit anywhere",
			files: map[string]string{
				"cgroup.controllers": "memory",
				"memory.max":         "max\n",
				"a/memory.max":       "max\n",
			},
			proc: "0::/a\n",
			want: 0,
		},
		{
			name: "v1 (hybrid), with the unlimited value of v1",
			files: map[string]string{
				"memory/memory.limit_in_bytes":           "9223372036854771712\n",
				"memory/docker/c1/memory.limit_in_bytes": "2147483648\n",
				"unified/cgroup.procs":                   "",
			},
			proc: "12:memory:/docker/c1\n4:cpu,cpuacct:/docker/c1\n0::/docker/c1\n",
			want: 2 << 30,
		},
		{
			name: "v1, unlimited",
			files: map[string]string{
				"memory/memory.limit_in_bytes":               "9223372036854771712\n",
				"memory/process_api/x/memory.limit_in_bytes": "9223372036854771712\n",
			},
			proc: "4:memory:/process_api/x\n0::/\n",
			want: 0,
		},
		{name: "nothing readable", proc: "", want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeCgroupFiles(t, root, tc.files)
			if got := cgroupMemoryLimit(root, []byte(tc.proc)); got != tc.want {
				t.Fatalf("limit %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMachineMemoryFromEnvironment(t *testing.T) {
	t.Setenv(MemoryEnv, "256MiB")
	mem, src, err := machineMemory()
	if err != nil || mem != 256<<20 || src != MemoryEnv {
		t.Fatalf("machineMemory with %s=256MiB: %d %q %v", MemoryEnv, mem, src, err)
	}
	t.Setenv(MemoryEnv, "plenty")
	if _, _, err := machineMemory(); err == nil {
		t.Fatalf("%s=plenty accepted", MemoryEnv)
	}
}
