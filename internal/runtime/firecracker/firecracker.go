// Package firecracker registers the Firecracker microVM driver. It checks for the binary
// and for a KVM that runs ordinary guests; running VMs is not implemented yet, so even
// then it reports itself unusable and says why.
package firecracker

import (
	"context"
	"errors"

	"github.com/isobench/isobench/internal/image"
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

// Driver is the Firecracker driver.
type Driver struct{ profile runtime.Profile }

// New makes the driver.
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) { return &Driver{profile: p}, nil }

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// Check implements runtime.Driver.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	bin := d.profile.Binary
	if bin == "" {
		bin = "firecracker"
	}
	st := vm.CheckKVMOnlyVMM(ctx, bin, "install firecracker from its GitHub releases into PATH")
	if st.Problem == "" {
		// Firecracker announces virtio-mmio devices on the kernel command line, which
		// Debian's cloud kernel cannot read (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is off).
		st.Problem = errNotImplemented.Error() + " (it also needs a kernel with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y)"
		st.Fix = "use the qemu-microvm profile"
	}
	return st
}

// Prepare implements runtime.Driver.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error { return errNotImplemented }

// New implements runtime.Driver.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	return nil, errNotImplemented
}

// Close implements runtime.Driver.
func (d *Driver) Close(ctx context.Context) error { return nil }
