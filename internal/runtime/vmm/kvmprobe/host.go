package kvmprobe

import (
	"context"
	"os/exec"

	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/runtime/vmm/guestassets"
)

// HostMachine is the machine the host's KVM verdict boots: qemu-microvm's under KVM, so
// that `doctor`'s host facts and the microVM drivers share one cached verdict.
const HostMachine = "microvm,x-option-roms=off,isa-serial=on,rtc=off,pit=off,pic=off"

// The host facts (doctor, environment.json, runsc's kvm platform) take this package's
// verdict, not the presence of /dev/kvm.
func init() { hostinfo.KVMProbe = ProbeHost }

// ProbeHost runs Probe with the host's qemu and guest kernel; without them KVM is not
// known to work and counts as unusable.
func ProbeHost(ctx context.Context) (usable bool, reason string) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return false, "not probed: the probe boots a guest under qemu-system-x86_64, which is not installed (apt-get install qemu-system-x86)"
	}
	kernel, err := guestassets.FindKernel(guestassets.DefaultKernelGlob)
	if err != nil {
		return false, "not probed: " + err.Error()
	}
	v := Probe(ctx, qemu, kernel, HostMachine)
	return v.Usable, v.Reason
}
