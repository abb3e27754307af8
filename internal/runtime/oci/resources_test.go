package oci_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
)

// TestCPUSetAndMemoryLimitReachTheHostProcesses starts a container pinned to CPU 0 with
// a memory limit and reads, from the host, the affinity of every process the runtime
// started for it (runsc's sandbox and gofer too) and the memory limit of their cgroup.
func TestCPUSetAndMemoryLimitReachTheHostProcesses(t *testing.T) {
	img := imagetest.Busybox(t)
	const limit = 96 << 20
	for _, name := range ociRuntimes {
		t.Run(name, func(t *testing.T) {
			d := driver(t, name, img)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := d.New(ctx, runtime.Spec{ID: runtime.NamePrefix + "test-limits-" + name, Args: []string{"sleep", "30"},
				Resources: runtime.Resources{CPUs: "0", MemoryBytes: limit}})
			if err != nil {
				t.Fatal(err)
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
			ps, err := c.Processes(ctx)
			if err != nil || len(ps) == 0 {
				t.Fatalf("processes: %v %v", ps, err)
			}
			limited := false
			for _, p := range ps {
				cpus, err := procs.AllowedCPUs(p.PID)
				if err != nil {
					t.Fatal(err)
				}
				// gVisor's gofer serves files outside the sandbox's cgroup.
				if !slices.Equal(cpus, []uint64{0}) && p.Role != runtime.RoleGofer {
					t.Errorf("%s %d (%s) may run on CPUs %v, want 0", name, p.PID, p.Role, cpus)
				}
				if got, ok := memoryLimit(t, p.PID); ok && got == limit {
					limited = true
				}
			}
			if !limited {
				t.Errorf("%s: no process of the container sits in a cgroup limited to %d bytes", name, limit)
			}
		})
	}
}

// memoryLimit reads the memory limit of pid's cgroup (v1 memory controller or v2).
func memoryLimit(t *testing.T, pid int) (int64, bool) {
	proc, err := procfs.NewProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	cgroups, err := proc.Cgroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, cg := range cgroups {
		var file string
		switch {
		case slices.Contains(cg.Controllers, "memory"):
			file = "/sys/fs/cgroup/memory" + cg.Path + "/memory.limit_in_bytes"
		case cg.HierarchyID == 0 && len(cg.Controllers) == 0:
			file = "/sys/fs/cgroup/unified" + cg.Path + "/memory.max"
		default:
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return v, true
		}
	}
	return 0, false
}
