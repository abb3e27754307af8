package cloudhypervisor

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
)

// baseCmdline is the kernel command line before the guest spec. The devices are found on
// PCI. Cloud Hypervisor boots a guest that resets again, so a panicking kernel must not
// reset (panic=0 halts it) or its workload could run twice; the host ends the VM when the
// console shows the panic (vmm.Machine).
const baseCmdline = "console=ttyS0 reboot=k panic=0 loglevel=6"

// apiPrefix is where Cloud Hypervisor's API lives on its socket.
const apiPrefix = "/api/v1"

// container is one Cloud Hypervisor VM; vmm.APIVM holds what every VMM shares.
type container struct {
	*vmm.APIVM[VMConfig]
	d *Driver
}

// New implements runtime.Driver: the guest spec, the per-VM disk copy, the tap device and
// the VM configuration.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	v, err := vmm.NewAPIVM(ctx, d.KVMDriver, s, baseCmdline, "ch.sock", "cloud-hypervisor.log", buildConfig)
	if err != nil {
		return nil, err
	}
	return &container{APIVM: v, d: d}, nil
}

// Create implements runtime.Container: cloud-hypervisor starts with only its API socket
// and gets the whole configuration (vm.create): the VM exists, no guest code ran.
func (c *container) Create(ctx context.Context) error {
	// Its own log goes to a file, so the serial console (stdout) carries only the guest.
	cmd := exec.Command(c.d.Binary, "--api-socket", "path="+c.Sock(), "--log-file", c.Log(), "-v")
	if err := c.Launch(ctx, cmd, DriverName, apiPrefix, "/vmm.ping"); err != nil {
		return err
	}
	if err := c.API.Put(ctx, "/vm.create", c.Config); err != nil {
		return fmt.Errorf("%w (cloud-hypervisor log: %s)", err, vmm.TailOfFile(c.Log()))
	}
	return nil
}

// Start implements runtime.Container: vm.boot, returning when Cloud Hypervisor says the
// VM runs.
func (c *container) Start(ctx context.Context) error {
	return c.StartWith(ctx, func(ctx context.Context) error {
		if err := c.API.Put(ctx, "/vm.boot", nil); err != nil {
			return fmt.Errorf("%w (cloud-hypervisor log: %s)", err, vmm.TailOfFile(c.Log()))
		}
		return nil
	})
}
