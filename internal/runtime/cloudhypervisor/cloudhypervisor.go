// Package cloudhypervisor registers the Cloud Hypervisor microVM driver. It checks for the
// binary and for a KVM that runs ordinary guests; running VMs is not implemented yet, so even
// then it reports itself unusable and says why.
package cloudhypervisor

import (
	"context"
	"errors"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/vm"
)

// DriverName is the driver kind and its built-in profile's name.
const DriverName = "cloud-hypervisor"

var errNotImplemented = errors.New("cloud-hypervisor: running VMs is not implemented yet")

func init() {
	runtime.Register(DriverName, New, runtime.Profile{
		Name: DriverName, Driver: DriverName, Binary: "cloud-hypervisor",
		Options:     map[string]string{"memory": "512M", "cpus": "2"},
		Description: "Cloud Hypervisor microVM (needs working KVM; no emulation fallback)",
	})
}

// Driver is the Cloud Hypervisor driver.
type Driver struct{ profile runtime.Profile }

// New makes the driver.
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) { return &Driver{profile: p}, nil }

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// Check implements runtime.Driver.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	bin := d.profile.Binary
	if bin == "" {
		bin = "cloud-hypervisor"
	}
	st := vm.CheckKVMOnlyVMM(ctx, bin, "install cloud-hypervisor from its GitHub releases into PATH")
	if st.Problem == "" {
		st.Problem = errNotImplemented.Error()
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
