// Package cloudhypervisor registers the Cloud Hypervisor microVM driver. It checks for the
// binary and for a KVM that runs ordinary guests; running VMs is not implemented yet, so even
// then it reports itself unusable and says why.
package cloudhypervisor

import (
	"errors"

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

// New makes the driver.
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	return &vm.UnimplementedVMM{
		Prof: p, DefaultBinary: "cloud-hypervisor",
		Install: "install cloud-hypervisor from its GitHub releases into PATH",
		Err:     errNotImplemented,
		Problem: errNotImplemented.Error(),
	}, nil
}
