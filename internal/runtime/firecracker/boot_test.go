package firecracker

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
)

// TestBootRunsWorkload boots the busybox test image and runs a workload through the
// agent. It needs firecracker and a KVM that runs ordinary guests; where either is
// missing it skips with Check's reason.
func TestBootRunsWorkload(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root (tap devices, image store)")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 not installed: apt-get install e2fsprogs")
	}
	drv, err := New(runtime.Profile{Name: DriverName, Driver: DriverName}, runtime.Env{Home: imagetest.Home(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if st := drv.Check(ctx); !st.Usable {
		t.Skipf("%s; fix: %s", st.Problem, st.Fix)
	}
	if err := drv.Prepare(ctx, imagetest.Busybox(t)); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer drv.Close(context.Background())
	_, err = bench.RunToExit(ctx, drv, runtime.Spec{ID: runtime.NamePrefix + "fc-test-exit", Args: []string{"sh", "-c", "echo oops >&2; exit 3"}})
	if err == nil || !strings.Contains(err.Error(), "status 3") || !strings.Contains(bench.StderrOf(err), "oops") {
		t.Errorf("exit 3 with stderr: got %v (stderr %q)", err, bench.StderrOf(err))
	}
	out, err := bench.RunToExit(ctx, drv, runtime.Spec{ID: runtime.NamePrefix + "fc-test-boot", Args: []string{"echo", "hello"}})
	if err != nil {
		t.Fatalf("run: %v (stderr %q)", err, bench.StderrOf(err))
	}
	if strings.TrimSpace(string(out.Stdout)) != "hello" {
		t.Errorf("stdout = %q", out.Stdout)
	}
	names := map[string]bool{}
	for _, p := range out.Timings.Phases {
		names[p.Name] = true
	}
	for _, want := range []string{"kernel_start", "init_reached", "workload_started"} {
		if !names[want] {
			t.Errorf("phase %s missing: %v", want, out.Timings.Phases)
		}
	}
	if p, _ := exec.Command("pgrep", "-f", "fc-test-").Output(); len(strings.TrimSpace(string(p))) > 0 {
		t.Errorf("firecracker processes left: %s", p)
	}
}
