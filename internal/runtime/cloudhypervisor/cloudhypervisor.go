// Package cloudhypervisor is the Cloud Hypervisor microVM driver: every container is a
// cloud-hypervisor process started with only its API socket; Create sends the whole VM
// configuration (vm.create: the vmlinux extracted from Debian's cloud kernel through its
// PVH entry point, the initramfs with the isobench agent as init, a per-VM copy of the
// image's ext4 disk, a tap with networking, the serial port on the VMM's stdout) and
// Start boots it (vm.boot). Cloud Hypervisor needs KVM (or MSHV); there is no emulation
// fallback. Its devices sit on PCI, so the guest loads virtio_pci where Firecracker's
// and qemu's microvm guests load virtio_mmio.
package cloudhypervisor

import (
	"context"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
)

// DriverName is the driver kind and its built-in profile's name.
const DriverName = "cloud-hypervisor"

// Install is the fix when the binary is missing.
const Install = "install cloud-hypervisor from its GitHub releases (static binary) into PATH"

var kind = vmm.KVMDriverKind{
	Name: DriverName, DefaultBinary: "cloud-hypervisor", Install: Install, MaxCPUs: 254,
	Modules: []string{"virtio_pci", "virtio_blk", "virtio_net"},
}

func init() {
	runtime.DeclareOptions(DriverName, vmm.KVMOptions{})
	runtime.Register(DriverName, New, runtime.Profile{
		Name: DriverName, Driver: DriverName, Binary: "cloud-hypervisor",
		Options:     map[string]string{"memory": "512M", "cpus": "2"},
		Description: "Cloud Hypervisor microVM (needs working KVM; no emulation fallback; driver never run against a real VMM binary)",
	})
	runtime.RegisterCleaner(DriverName, cleanup)
}

// Driver runs containers as Cloud Hypervisor VMs.
type Driver struct {
	*vmm.KVMDriver
}

// New makes the driver; its profile options are those of vmm.NewKVMDriver.
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	opts := vmm.DefaultKVMOptions()
	if err := p.DecodeOptions(&opts); err != nil {
		return nil, err
	}
	base, err := vmm.NewKVMDriver(p, env, kind, opts)
	if err != nil {
		return nil, err
	}
	return &Driver{KVMDriver: base}, nil
}

// cleanup kills cloud-hypervisor processes that a killed run left and removes VM taps.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	return vmm.SweepVMMs("cloud-hypervisor", vmm.SocketVMM(env, "cloud-hypervisor", "--api-socket"))
}
