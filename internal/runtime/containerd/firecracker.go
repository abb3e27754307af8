package containerd

import (
	"os"
	"os/exec"
	"strings"

	"github.com/isobench/isobench/internal/runtime"
)

// FirecrackerSocket is where firecracker-containerd's own containerd listens by default.
const FirecrackerSocket = "/run/firecracker-containerd/containerd.sock"

// Where firecracker-containerd's getting-started guide puts its pieces.
const (
	firecrackerConfig  = "/etc/firecracker-containerd/config.toml"
	firecrackerRuntime = "/etc/containerd/firecracker-runtime.json"
	firecrackerRootFS  = "/var/lib/firecracker-containerd/runtime/default-rootfs.img"
	firecrackerKernel  = "/var/lib/firecracker-containerd/runtime/default-vmlinux.bin"
)

const firecrackerGuide = "see firecracker-containerd's docs/getting-started.md"

// checkFirecracker checks the binaries, the agent's root filesystem image, the kernel and
// the devmapper pool of firecracker-containerd, setting Problem and Fix on the first missing.
func checkFirecracker(st *runtime.Status, socket, snapshotter string) bool {
	for _, bin := range []struct{ name, fix string }{
		{"firecracker-containerd", "build firecracker-containerd (make -C firecracker-containerd) and install firecracker-containerd in PATH; " + firecrackerGuide},
		{"containerd-shim-aws-firecracker", "install containerd-shim-aws-firecracker from the firecracker-containerd build in PATH"},
		{"firecracker", "install the firecracker binary (a release of firecracker-microvm/firecracker) in PATH"},
	} {
		if _, err := exec.LookPath(bin.name); err != nil {
			st.Problem = bin.name + " not found in PATH"
			st.Fix = bin.fix
			return false
		}
	}
	st.Found = true
	for _, f := range []struct{ path, what, fix string }{
		{firecrackerConfig, "firecracker-containerd's config", "write " + firecrackerConfig + " with the devmapper snapshotter plugin and its pool; " + firecrackerGuide},
		{firecrackerRuntime, "the aws.firecracker runtime config", "write " + firecrackerRuntime + " naming the kernel and root filesystem image; " + firecrackerGuide},
		{firecrackerRootFS, "the VM root filesystem image with the agent", "build it: make -C firecracker-containerd image, then copy tools/image-builder/rootfs.img to " + firecrackerRootFS},
		{firecrackerKernel, "the guest kernel", "put a Firecracker guest kernel (vmlinux) at " + firecrackerKernel},
	} {
		if _, err := os.Stat(f.path); err != nil {
			st.Problem = f.what + " is missing: " + f.path
			st.Fix = f.fix
			return false
		}
	}
	if snapshotter == "devmapper" {
		cfg, _ := os.ReadFile(firecrackerConfig)
		if !strings.Contains(string(cfg), "devmapper") || !strings.Contains(string(cfg), "pool_name") {
			st.Problem = firecrackerConfig + " configures no devmapper pool"
			st.Fix = "create a thin pool (firecracker-containerd's tools/thinpool.sh) and add [plugins.\"io.containerd.snapshotter.v1.devmapper\"] with pool_name and root_path to " + firecrackerConfig
			return false
		}
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		st.Problem = "Firecracker needs /dev/kvm, which this host lacks"
		st.Fix = "run on bare metal or in a VM with nested virtualization, then modprobe kvm_intel (or kvm_amd)"
		return false
	}
	return true
}
