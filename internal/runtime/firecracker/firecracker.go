// Package firecracker registers the Firecracker microVM driver. It checks for the binary
// and for a KVM that runs ordinary guests; running VMs is not implemented yet, so even
// then it reports itself unusable and says why.
package firecracker

import (
	"errors"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/vm"
)

// DriverName is the driver kind and its built-in profile's name.
const DriverName = "firecracker"

var errNotImplemented = errors.New("firecracker: running VMs is not implemented yet")

func init() {
	runtime.Register(DriverName, New, runtime.Profile{
		Name: DriverName, Driver: DriverName, Binary: "firecracker",
		Options:     map[string]string{"memory": "512M", "cpus": "2"},
		Description: "Firecracker microVM (needs working KVM; no emulation fallback)",
	})
}

// New makes the driver.
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	return &vm.UnimplementedVMM{
		Prof: p, DefaultBinary: "firecracker",
		Install: "install firecracker from its GitHub releases into PATH",
		Err:     errNotImplemented,
		// Firecracker announces virtio-mmio devices on the kernel command line, which
		// Debian's cloud kernel cannot read (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is off).
		Problem: errNotImplemented.Error() + " (it also needs a kernel with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y)",
	}, nil
}
