package host_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	_ "github.com/isobench/isobench/internal/runtime/host"
)

// TestCPUSetPinsTheWorkloadAndMemoryLimitsAreRefused: the baseline applies a CPU set
// through the workload's affinity and refuses a memory limit, which needs a cgroup.
func TestCPUSetPinsTheWorkloadAndMemoryLimitsAreRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the host driver chroots")
	}
	img := imagetest.Busybox(t)
	d := benchtest.PreparedDriver(t, "host", img)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := d.New(ctx, runtime.Spec{ID: runtime.NamePrefix + "test-host-mem", Args: []string{"true"},
		Resources: runtime.Resources{MemoryBytes: 64 << 20}})
	if !errors.Is(err, runtime.ErrCannotLimit) || !strings.Contains(err.Error(), "cgroup") {
		t.Fatalf("memory limit on the host baseline: %v", err)
	}
	c, err := d.New(ctx, runtime.Spec{ID: runtime.NamePrefix + "test-host-cpus", Args: []string{"sleep", "30"},
		Resources: runtime.Resources{CPUs: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := runtime.Remove(context.WithoutCancel(ctx), c); err != nil {
			t.Error(err)
		}
	}()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	procs, err := c.Processes(ctx)
	if err != nil || len(procs) == 0 {
		t.Fatalf("processes %v: %v", procs, err)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(procs[0].PID) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Cpus_allowed_list:\t0\n") {
		t.Fatalf("workload's status has no Cpus_allowed_list of 0:\n%s", status)
	}
}
