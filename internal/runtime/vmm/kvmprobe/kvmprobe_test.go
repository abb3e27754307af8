package kvmprobe

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/runtime/vmm/guestassets"
)

// The probe must give a verdict within its timeout whatever KVM does (here it may abort
// or hang the guest); a real hang is bounded by Timeout.
func TestKVMProbeNeverHangs(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	k, err := guestassets.FindKernel(guestassets.DefaultKernelGlob)
	if err != nil {
		t.Skip(err.Error())
	}
	for _, machine := range []string{"microvm,x-option-roms=off,isa-serial=on", "q35"} {
		t0 := time.Now()
		v := probeKVM(context.Background(), qemu, k, machine)
		if el := time.Since(t0); el > Timeout+3*time.Second {
			t.Errorf("probe with -M %s took %s", machine, el)
		}
		if v.Reason == "" {
			t.Error("verdict without a reason")
		}
		t.Logf("-M %s: KVM usable=%v: %s (%s)", machine, v.Usable, v.Reason, time.Since(t0))
	}
}

// doctor's host section and the microVM drivers must give the same KVM verdict: the host
// facts once said "usable: /dev/kvm present (not probed)" next to a failing probe.
func TestHostFactsTakeTheProbesVerdict(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed: the probe cannot run")
	}
	k, err := guestassets.FindKernel(guestassets.DefaultKernelGlob)
	if err != nil {
		t.Skip(err.Error())
	}
	v := Probe(context.Background(), qemu, k, HostMachine)
	want := "unusable: " + v.Reason
	if v.Usable {
		want = "usable: " + v.Reason
	}
	if got := hostinfo.Collect(context.Background()).KVM; got != want {
		t.Errorf("host facts say KVM %q, the probe %q", got, want)
	}
	if got := hostinfo.KVMUsable(context.Background()); got != v.Usable {
		t.Errorf("hostinfo.KVMUsable = %v, the probe says %v", got, v.Usable)
	}
}
