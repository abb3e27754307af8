package host_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/image/imagetest"
	hostprocs "github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	_ "github.com/isobench/isobench/internal/runtime/host"
	"github.com/isobench/isobench/internal/testutil"
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
	c := testutil.StartContainer(t, ctx, d, runtime.Spec{ID: runtime.NamePrefix + "test-host-cpus", Args: []string{"sleep", "30"},
		Resources: runtime.Resources{CPUs: "0"}})
	procs, err := c.Processes(ctx)
	if err != nil || len(procs) == 0 {
		t.Fatalf("processes %v: %v", procs, err)
	}
	if cpus, err := hostprocs.AllowedCPUs(procs[0].PID); err != nil || !slices.Equal(cpus, []uint64{0}) {
		t.Fatalf("the workload may run on CPUs %v (%v), want 0 only", cpus, err)
	}
}

// TestDeleteKillsWhatLeftTheSession: a workload that starts a process in a new session
// and exits leaves an orphan that is neither in its process group nor its descendant;
// Delete must end it all the same (the interference benchmark's aggressors do this).
func TestDeleteKillsWhatLeftTheSession(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the host driver chroots")
	}
	img := imagetest.Busybox(t)
	d := benchtest.PreparedDriver(t, "host", img)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := t.TempDir()
	// The orphan writes its own pid (setsid may fork, so $! would name the wrong one),
	// and the workload exits only once it did.
	c := testutil.StartContainer(t, ctx, d, runtime.Spec{ID: runtime.NamePrefix + "test-host-setsid",
		Mounts: []runtime.Mount{{Type: "bind", Source: out, Destination: "/out"}},
		Args: []string{"sh", "-c", "setsid sh -c 'echo $$ > /out/pid.tmp && mv /out/pid.tmp /out/pid && exec sleep 300' </dev/null >/dev/null 2>&1 & " +
			"for i in $(seq 100); do [ -s /out/pid ] && exit 0; sleep 0.1; done; exit 1"}})
	if code, err := c.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("wait: %d, %v", code, err)
	}
	b, err := os.ReadFile(out + "/pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("the orphan wrote %q, not its pid", b)
	}
	cmdline := func() string {
		return strings.Join(hostprocs.Cmdline(pid), " ")
	}
	for end := time.Now().Add(5 * time.Second); !strings.HasPrefix(cmdline(), "sleep"); {
		if time.Now().After(end) {
			t.Fatalf("orphan %d does not run sleep before Delete: %q", pid, cmdline())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); strings.HasPrefix(cmdline(), "sleep"); {
		if time.Now().After(end) {
			t.Fatalf("orphan %d (sleep 300) outlived Delete", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
