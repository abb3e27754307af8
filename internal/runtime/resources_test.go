package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/image"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]string{"0": "[0]", "0-2,5": "[0 1 2 5]", " 3 , 1-1 ": "[1 3]", "1,1": "[1]"} {
		got, err := ParseCPUList(in)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "-1", "2-1", "0-99999", "1,", "0-"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) accepted", bad)
		}
	}
}

// TestCheckResourcesRefusesWhatTheHostLacks asks for a CPU past the last one isobench may
// use and for more memory than the host has.
func TestCheckResourcesRefusesWhatTheHostLacks(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	last := 0
	for c := 0; c < 1024; c++ {
		if set.IsSet(c) {
			last = c
		}
	}
	if err := CheckResources(Resources{CPUs: strconv.Itoa(last)}); err != nil {
		t.Fatalf("CPU %d is usable here: %v", last, err)
	}
	if err := CheckResources(Resources{CPUs: strconv.Itoa(last + 1)}); err == nil || !strings.Contains(err.Error(), "does not offer") {
		t.Fatalf("CPU %d past the last usable one: got %v", last+1, err)
	}
	if err := CheckResources(Resources{MemoryBytes: 1 << 60}); err == nil {
		t.Fatal("an exabyte memory limit was accepted")
	}
	if err := CheckResources(Resources{MemoryBytes: 1 << 20}); err == nil {
		t.Fatal("a 1 MiB memory limit was accepted")
	}
	if err := CheckResources(Resources{MemoryBytes: 256 << 20}); err != nil {
		t.Fatal(err)
	}
}

// plainDriver is a driver that knows nothing of limits.
type plainDriver struct{ made int }

func (d *plainDriver) Profile() Profile                             { return Profile{Name: "plain", Driver: "plain"} }
func (d *plainDriver) Check(context.Context) Status                 { return Status{Usable: true} }
func (d *plainDriver) Prepare(context.Context, *image.Image) error  { return nil }
func (d *plainDriver) Close(context.Context) error                  { return nil }
func (d *plainDriver) New(context.Context, Spec) (Container, error) { d.made++; return nil, nil }

// cpuOnlyDriver limits CPUs but not memory.
type cpuOnlyDriver struct{ plainDriver }

func (d *cpuOnlyDriver) CanLimit(r Resources) error {
	if r.MemoryBytes > 0 {
		return errors.New("no memory limits here")
	}
	return nil
}

func TestGuardRefusesLimitsADriverCannotApply(t *testing.T) {
	plain := &plainDriver{}
	g := limitGuard{plain}
	if _, err := g.New(context.Background(), Spec{ID: "isobench-x"}); err != nil || plain.made != 1 {
		t.Fatalf("a spec without limits: %v (made %d)", err, plain.made)
	}
	_, err := g.New(context.Background(), Spec{ID: "isobench-x", Resources: Resources{CPUs: "0"}})
	if !errors.Is(err, ErrCannotLimit) || !strings.Contains(err.Error(), "does not support") || plain.made != 1 {
		t.Fatalf("a driver without limits got a cpuset: %v (made %d)", err, plain.made)
	}
	cpu := &cpuOnlyDriver{}
	g = limitGuard{cpu}
	if _, err := g.New(context.Background(), Spec{ID: "isobench-x", Resources: Resources{CPUs: "0"}}); err != nil {
		t.Fatalf("cpuset on a driver that can: %v", err)
	}
	_, err = g.New(context.Background(), Spec{ID: "isobench-x", Resources: Resources{MemoryBytes: 64 << 20}})
	if !errors.Is(err, ErrCannotLimit) || !strings.Contains(err.Error(), "no memory limits here") {
		t.Fatalf("memory limit on a cpu-only driver: %v", err)
	}
	if err := CanLimit(g, Resources{MemoryBytes: 64 << 20}); err == nil {
		t.Fatal("CanLimit passed a memory limit the driver refuses")
	}
	if err := CanLimit(plain, Resources{}); err != nil {
		t.Fatalf("no limits asked: %v", err)
	}
}

// TestStartPinnedPinsTheChildFromItsFirstInstruction reads the child's own allowed CPUs.
func TestStartPinnedPinsTheChildFromItsFirstInstruction(t *testing.T) {
	var out bytes.Buffer
	cmd := exec.Command("grep", "Cpus_allowed_list", "/proc/self/status")
	cmd.Stdout = &out
	if err := StartPinned(cmd, "0"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); len(got) != 2 || got[1] != "0" {
		t.Fatalf("child's allowed CPUs: %q, want 0", out.String())
	}
	// The calling thread got its affinity back: a later child runs anywhere.
	out.Reset()
	cmd = exec.Command("grep", "Cpus_allowed_list", "/proc/self/status")
	cmd.Stdout = &out
	if err := StartPinned(cmd, ""); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.Count() > 1 && strings.HasSuffix(strings.TrimSpace(out.String()), "\t0") {
		t.Fatalf("an unpinned child kept the pinned affinity: %q", out.String())
	}
}
