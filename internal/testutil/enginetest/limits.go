package enginetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"

	"github.com/isobench/isobench/internal/procs"
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
	listed, err := c.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range listed {
		if p.Role != runtime.RoleWorkload && p.Role != runtime.RoleSandbox {
			continue
		}
		checked++
		if cpus, err := procs.AllowedCPUs(p.PID); err != nil || !slices.Equal(cpus, []uint64{0}) {
			t.Errorf("%s process %d may run on CPUs %v (%v), want 0", p.Role, p.PID, cpus, err)
		}
		if got := memoryLimit(t, p.PID); got != limit {
			t.Errorf("%s process %d: memory cgroup limit %d, want %d", p.Role, p.PID, got, limit)
		}
	}
	if checked == 0 {
		t.Fatalf("no workload or sandbox process among %+v", listed)
	}
}

// memoryLimit reads the limit of pid's memory cgroup: cgroup v1's memory controller
// where it is mounted (hybrid hosts), else v2's memory.max.
func memoryLimit(t *testing.T, pid int) int64 {
	t.Helper()
	p, err := procfs.NewProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	cgroups, err := p.Cgroups()
	if err != nil {
		t.Fatal(err)
	}
	var file string
	for _, cg := range cgroups {
		switch {
		case slices.Contains(cg.Controllers, "memory"):
			file = filepath.Join("/sys/fs/cgroup/memory", cg.Path, "memory.limit_in_bytes")
		case cg.HierarchyID == 0 && file == "":
			for _, root := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
				if f := filepath.Join(root, cg.Path, "memory.max"); fileExists(f) {
					file = f
					break
				}
			}
		}
	}
	if file == "" {
		t.Fatalf("process %d is in no memory cgroup: %+v", pid, cgroups)
	}
	v, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
	if err != nil {
		t.Fatalf("%s holds %q, not a limit", file, v)
	}
	return n
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
