package vm

import (
	"context"
	"os/exec"
	"strings"

	"github.com/isobench/isobench/internal/runtime"
)

// CheckKVMOnlyVMM is the Check of VMMs that have no emulation fallback (Firecracker,
// Cloud Hypervisor): the binary must exist and KVM must run ordinary guests, which the
// probe verifies with QEMU (the only VMM here that can boot a kernel without a prepared
// disk and report the result on a console).
func CheckKVMOnlyVMM(ctx context.Context, binary, install string) runtime.Status {
	st := runtime.Status{Class: runtime.ClassVM, Options: map[string]string{}}
	bin, err := exec.LookPath(binary)
	if err != nil {
		st.Problem, st.Fix = binary+" not found", install
		return st
	}
	st.Found, st.Binary = true, bin
	if sum, err := FileSHA256(bin); err == nil {
		st.SHA256 = sum
	}
	if out, err := exec.CommandContext(ctx, bin, "--version").Output(); err == nil {
		st.Version = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		st.Problem = "cannot verify that KVM runs ordinary guests: the probe needs qemu-system-x86_64"
		st.Fix = "apt-get install qemu-system-x86"
		return st
	}
	kernel, err := FindKernel(DefaultKernelGlob)
	if err != nil {
		st.Problem, st.Fix = err.Error(), "apt-get install linux-image-cloud-amd64"
		return st
	}
	v := ProbeKVM(ctx, qemu, kernel, "microvm,x-option-roms=off,isa-serial=on,rtc=off,pit=off,pic=off")
	st.Options["kvm"] = v.Reason
	if !v.Usable {
		st.Problem = "KVM cannot run ordinary guests here: " + v.Reason
		st.Fix = "run on a host with working KVM (bare metal, or a VM with nested virtualization)"
		return st
	}
	return st
}
