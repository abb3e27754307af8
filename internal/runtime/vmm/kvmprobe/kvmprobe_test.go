package kvmprobe

import (
	"context"
	"os/exec"
	"testing"
	"time"

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
