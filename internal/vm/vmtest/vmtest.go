// Package vmtest holds the tests every KVM-only VMM driver runs (Firecracker, Cloud
// Hypervisor): a real boot of the test image through the agent where the VMM and a KVM
// that runs ordinary guests exist, and otherwise a skip that prints Check's reason.
package vmtest

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

// NewDriver makes the driver under test for a profile and an environment.
type NewDriver func(p runtime.Profile, env runtime.Env) (runtime.Driver, error)

// Usable makes and checks the driver in the shared test home, skipping with Check's
// reason where the VMM cannot run.
func Usable(t *testing.T, name string, newDriver NewDriver) runtime.Driver {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root (tap devices, image store)")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 not installed: apt-get install e2fsprogs")
	}
	drv, err := newDriver(runtime.Profile{Name: name, Driver: name}, runtime.Env{Home: imagetest.Home(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if st := drv.Check(ctx); !st.Usable {
		t.Skipf("%s; fix: %s", st.Problem, st.Fix)
	}
	return drv
}

// BootRunsWorkload boots the busybox test image: a failing workload's exit code and
// stderr come back, a good one's stdout and the boot phases too, and no VMM process of
// the test is left.
func BootRunsWorkload(t *testing.T, name, processName string, newDriver NewDriver) {
	drv := Usable(t, name, newDriver)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := drv.Prepare(ctx, imagetest.Busybox(t)); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer drv.Close(context.Background())
	prefix := runtime.NamePrefix + "vmtest-"
	_, err := bench.RunToExit(ctx, drv, runtime.Spec{ID: prefix + "exit", Args: []string{"sh", "-c", "echo oops >&2; exit 3"}})
	if err == nil || !strings.Contains(err.Error(), "status 3") || !strings.Contains(bench.StderrOf(err), "oops") {
		t.Errorf("exit 3 with stderr: got %v (stderr %q)", err, bench.StderrOf(err))
	}
	out, err := bench.RunToExit(ctx, drv, runtime.Spec{ID: prefix + "boot", Args: []string{"echo", "hello"}})
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
	for _, want := range []string{"vmm_started", "kernel_start", "init_reached", "workload_started", "workload_exit"} {
		if !names[want] {
			t.Errorf("phase %s missing: %v", want, out.Timings.Phases)
		}
	}
	if p, _ := exec.Command("pgrep", "-f", processName+".*"+prefix).Output(); len(strings.TrimSpace(string(p))) > 0 {
		t.Errorf("%s processes left: %s", processName, p)
	}
}

// CheckSaysWhyItIsUnusable: where the VMM's binary is missing, Check says so with the
// install fix and the driver is a VM-class runtime.
func CheckSaysWhyItIsUnusable(t *testing.T, name, binary, install string, newDriver NewDriver) {
	if _, err := exec.LookPath(binary); err == nil {
		t.Skipf("%s is installed; its boot test covers it", binary)
	}
	drv, err := newDriver(runtime.Profile{Name: name, Driver: name}, runtime.Env{})
	if err != nil {
		t.Fatal(err)
	}
	st := drv.Check(context.Background())
	if st.Usable || st.Problem != binary+" not found" || st.Fix != install {
		t.Fatalf("Check = %+v; want unusable, %q, fix %q", st, binary+" not found", install)
	}
	if st.Class != runtime.ClassVM {
		t.Errorf("class %q, want vm", st.Class)
	}
}
