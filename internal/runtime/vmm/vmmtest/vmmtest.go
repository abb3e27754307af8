// Package vmmtest holds the tests every KVM-only VMM driver runs (Firecracker, Cloud
// Hypervisor): a real boot of the test image through the agent where the VMM and a KVM
// that runs ordinary guests exist, and otherwise a skip that prints Check's reason.
package vmmtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
	"github.com/isobench/isobench/internal/runtime/vmm/guestassets"
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
	for _, want := range runtime.VMPhases {
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

// Devices is how a VMM presents its disk and network to the guest.
type Devices string

const (
	// MMIO is virtio-mmio, found through ACPI (Firecracker 1.10+, qemu's microvm).
	MMIO Devices = "mmio"
	// PCI is virtio-pci on a PCI host bridge (Cloud Hypervisor).
	PCI Devices = "pci"
)

// qemuRun is one guest run under QEMU and what came of it.
type qemuRun struct {
	m              *vmm.Machine
	code           int
	err            error
	stdout, stderr string
	console        string
	took           time.Duration
}

// runUnderQEMU boots exactly the guest a KVM-only driver would boot (the vmlinux through
// its PVH entry point, the driver's initramfs and modules, its kernel command line, a
// per-VM disk copy, a tap) under QEMU with the same kind of virtio devices, runs args in
// it and waits. reboots leaves out -no-reboot, so that QEMU, like Cloud Hypervisor,
// restarts a guest that resets. The test's cleanup checks that nothing is left.
func runUnderQEMU(t *testing.T, d *vmm.KVMDriver, cmdline string, devices Devices, args []string, reboots bool) qemuRun {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root (tap devices, image store)")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed: apt-get install qemu-system-x86")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 not installed: apt-get install e2fsprogs")
	}
	if d.Kernel, err = guestassets.FindKernel(guestassets.DefaultKernelGlob); err != nil {
		t.Skipf("%v; fix: apt-get install linux-image-cloud-amd64", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := d.PrepareGuest(ctx, imagetest.Busybox(t)); err != nil {
		t.Fatalf("preparing the guest: %v", err)
	}
	var stdout, stderr bench.FirstByteBuffer
	id := runtime.NamePrefix + "vmtest-qemu-" + string(devices)
	spec := runtime.Spec{ID: id, Network: true, RawDir: t.TempDir(), Stdout: &stdout, Stderr: &stderr, Args: args}
	m, err := d.NewMachine(ctx, spec, cmdline+vmm.TCGClockArgs())
	if err != nil {
		t.Fatal(err)
	}
	tap := m.Tap.Name
	t.Cleanup(func() {
		if err := m.Release(context.Background()); err != nil {
			t.Errorf("release: %v", err)
		}
		if _, err := os.Stat(m.Dir); err == nil {
			t.Errorf("state directory %s left", m.Dir)
		}
		if out, _ := exec.Command("ip", "link", "show", tap).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
			t.Errorf("tap %s left: %s", tap, out)
		}
		if p, _ := exec.Command("pgrep", "-f", "qemu-system.*"+id).Output(); len(strings.TrimSpace(string(p))) > 0 {
			t.Errorf("qemu left running: %s", p)
		}
	})
	qargs := []string{
		"-name", id, "-accel", "tcg", "-cpu", "max", "-m", strconv.FormatInt(d.MemBytes>>20, 10) + "M",
		"-smp", strconv.Itoa(d.CPUs), "-nodefaults", "-no-user-config", "-nographic",
		"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
		"-kernel", d.Vmlinux, "-initrd", m.Initrd, "-append", m.Cmdline,
		"-drive", "id=root,file=" + m.Disk + ",format=raw,if=none,cache=unsafe",
		"-netdev", "tap,id=net0,ifname=" + tap + ",script=no,downscript=no",
	}
	if !reboots {
		qargs = append(qargs, "-no-reboot")
	}
	mac := "mac=" + vmm.GuestMAC(m.Tap.GuestIP)
	switch devices {
	case MMIO:
		qargs = append(qargs, "-M", "microvm,x-option-roms=off,isa-serial=on",
			"-device", "virtio-blk-device,drive=root", "-device", "virtio-net-device,netdev=net0,"+mac)
	case PCI:
		qargs = append(qargs, "-M", "q35",
			"-device", "virtio-blk-pci,drive=root", "-device", "virtio-net-pci,netdev=net0,"+mac)
	}
	start := time.Now()
	if err := m.Launch(exec.Command(qemu, qargs...)); err != nil {
		t.Fatal(err)
	}
	// QEMU runs the guest at once; its launch stands for the VMM's start call.
	if err := m.StartWith(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	r := qemuRun{m: m}
	r.code, r.err = m.Wait(ctx)
	r.took = time.Since(start)
	if err := m.Delete(ctx); err != nil {
		t.Errorf("delete: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(spec.RawDir, "console.log"))
	r.stdout, r.stderr, r.console = stdout.String(), stderr.String(), string(log)
	return r
}

// GuestBootsUnderQEMU boots the driver's guest under QEMU (see runUnderQEMU), so the guest
// side is tested where the VMM itself cannot run; under TCG this takes a few seconds. The
// workload pings the host side of the tap, and every boot phase must be reported.
func GuestBootsUnderQEMU(t *testing.T, d *vmm.KVMDriver, cmdline string, devices Devices) {
	// The agent sets the host side of the tap as the default gateway.
	r := runUnderQEMU(t, d, cmdline, devices, []string{"sh", "-c",
		"gw=$(ip route | awk '/^default/ {print $3}'); ping -c 1 -W 5 $gw >/dev/null && echo ping-ok $gw; echo hello"}, false)
	if r.err != nil || r.code != 0 {
		t.Fatalf("wait: %d, %v; stderr %q; console:\n%s", r.code, r.err, r.stderr, r.console)
	}
	if !strings.Contains(r.stdout, "ping-ok "+r.m.Tap.HostIP.String()) || !strings.Contains(r.stdout, "hello") {
		t.Errorf("stdout %q lacks ping-ok and hello; stderr %q", r.stdout, r.stderr)
	}
	names := map[string]bool{}
	for _, p := range r.m.Phases() {
		names[p.Name] = true
	}
	for _, want := range runtime.VMPhases {
		if !names[want] {
			t.Errorf("phase %s missing: %v", want, r.m.Phases())
		}
	}
}

// GuestPanicEndsTheVM: a guest kernel that panics mid-workload ends the VM at once even
// where the VMM would reboot it (QEMU here without -no-reboot, as Cloud Hypervisor does on
// the reset that reboot=k makes), so the workload never runs twice.
func GuestPanicEndsTheVM(t *testing.T, d *vmm.KVMDriver, cmdline string, devices Devices) {
	r := runUnderQEMU(t, d, cmdline, devices, []string{"sh", "-c",
		"echo before; echo c > /proc/sysrq-trigger; sleep 60; echo after"}, true)
	if r.err == nil || !strings.Contains(r.err.Error(), "guest kernel panic") {
		t.Fatalf("wait = %d, %v; want the panic reported; console:\n%s", r.code, r.err, r.console)
	}
	// The output of the workload's first line may not have left the guest before the
	// panic; a second boot would print the kernel's banner again.
	if n := strings.Count(r.console, "Linux version"); n != 1 || strings.Count(r.stdout, "before") > 1 || strings.Contains(r.stdout, "after") {
		t.Errorf("the guest booted %d times; stdout %q", n, r.stdout)
	}
	if r.took > 30*time.Second {
		t.Errorf("the panicked VM took %s to end", r.took)
	}
}
