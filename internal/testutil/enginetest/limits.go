package enginetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/runtime"
)

// Limits checks, from the host, that the engine applies Spec.Resources: the workload
// (or gVisor's sandbox, which holds it) may run on CPU 0 only and its memory cgroup is
// limited to 64 MiB. Engines must, since the interference benchmark states both.
func Limits(t *testing.T, ctx context.Context, d runtime.Driver) {
	const limit = 64 << 20
	id := fmt.Sprintf("%slimits-%d", runtime.NamePrefix, os.Getpid())
	c, err := d.New(ctx, runtime.Spec{ID: id, Args: []string{"sleep", "30"},
		Resources: runtime.Resources{CPUs: "0", MemoryBytes: limit}})
	if err != nil {
		t.Fatalf("a container limited to CPU 0 and 64 MiB: %v", err)
	}
	defer func() {
		if err := runtime.Remove(context.WithoutCancel(ctx), c); err != nil {
			t.Error(err)
		}
	}()
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	procs, err := c.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range procs {
		if p.Role != runtime.RoleWorkload && p.Role != runtime.RoleSandbox {
			continue
		}
		checked++
		if cpus := statusField(t, p.PID, "Cpus_allowed_list"); cpus != "0" {
			t.Errorf("%s process %d may run on CPUs %q, want 0", p.Role, p.PID, cpus)
		}
		if got := memoryLimit(t, p.PID); got != limit {
			t.Errorf("%s process %d: memory cgroup limit %d, want %d", p.Role, p.PID, got, limit)
		}
	}
	if checked == 0 {
		t.Fatalf("no workload or sandbox process among %+v", procs)
	}
}

func statusField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return ""
}

// memoryLimit reads the limit of pid's memory cgroup: cgroup v1's memory controller
// where it is mounted (hybrid hosts), else v2's memory.max.
func memoryLimit(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var file string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[1] == "memory":
			file = filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes")
		case parts[0] == "0" && file == "":
			for _, root := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
				if f := filepath.Join(root, parts[2], "memory.max"); fileExists(f) {
					file = f
					break
				}
			}
		}
	}
	if file == "" {
		t.Fatalf("process %d is in no memory cgroup: %s", pid, b)
	}
	v, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if _, err := fmt.Sscan(strings.TrimSpace(string(v)), &n); err != nil {
		t.Fatalf("%s holds %q, not a limit", file, v)
	}
	return n
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
