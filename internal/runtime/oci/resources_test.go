package oci_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/testutil"
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
			c := testutil.StartContainer(t, ctx, d, runtime.Spec{ID: runtime.NamePrefix + "test-limits-" + name, Args: []string{"sleep", "30"},
				Resources: runtime.Resources{CPUs: "0", MemoryBytes: limit}})
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
				if got, ok := testutil.MemoryLimit(t, p.PID); ok && got == limit {
					limited = true
				}
			}
			if !limited {
				t.Errorf("%s: no process of the container sits in a cgroup limited to %d bytes", name, limit)
			}
		})
	}
}
