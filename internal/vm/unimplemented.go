package vm

import (
	"context"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
)

// UnimplementedVMM is the driver of a KVM-only VMM (Firecracker, Cloud Hypervisor) that
// isobench checks for but cannot run VMs with yet: even where the binary and KVM work,
// Check reports it unusable and says why, so that `isobench runtimes` explains it.
type UnimplementedVMM struct {
	Prof          runtime.Profile
	DefaultBinary string // when the profile names no binary
	Install       string // the fix when the binary is missing
	Err           error  // what Prepare and New return
	Problem       string // Check's problem on a host that could run the VMM
}

// Profile implements runtime.Driver.
func (d *UnimplementedVMM) Profile() runtime.Profile { return d.Prof }

// Check implements runtime.Driver.
func (d *UnimplementedVMM) Check(ctx context.Context) runtime.Status {
	bin := d.Prof.Binary
	if bin == "" {
		bin = d.DefaultBinary
	}
	st := CheckKVMOnlyVMM(ctx, bin, d.Install)
	if st.Problem == "" {
		st.Problem = d.Problem
		st.Fix = "use the qemu-microvm profile"
	}
	return st
}

// Prepare implements runtime.Driver.
func (d *UnimplementedVMM) Prepare(ctx context.Context, img *image.Image) error { return d.Err }

// New implements runtime.Driver.
func (d *UnimplementedVMM) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	return nil, d.Err
}

// Close implements runtime.Driver.
func (d *UnimplementedVMM) Close(ctx context.Context) error { return nil }
