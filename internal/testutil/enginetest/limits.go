package enginetest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/testutil"
)

// Limits checks, from the host, that the engine applies Spec.Resources: the workload
// (or gVisor's sandbox, which holds it) may run on CPU 0 only and its memory cgroup is
// limited to 64 MiB. Engines must, since the interference benchmark states both.
func Limits(t *testing.T, ctx context.Context, d runtime.Driver) {
	// A subtest, so that its container is gone before the caller checks for leftovers.
	t.Run("limits", func(t *testing.T) {
		const limit = 64 << 20
		id := fmt.Sprintf("%slimits-%d", runtime.NamePrefix, os.Getpid())
		c := testutil.StartContainer(t, ctx, d, runtime.Spec{ID: id, Args: []string{"sleep", "30"},
			Resources: runtime.Resources{CPUs: "0", MemoryBytes: limit}})
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
			if got, ok := testutil.MemoryLimit(t, p.PID); !ok || got != limit {
				t.Errorf("%s process %d: memory cgroup limit %d (read: %v), want %d", p.Role, p.PID, got, ok, limit)
			}
		}
		if checked == 0 {
			t.Fatalf("no workload or sandbox process among %+v", listed)
		}
	})
}
