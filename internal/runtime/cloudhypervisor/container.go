package cloudhypervisor

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
	"github.com/isobench/isobench/internal/runtime/vmm/unixapi"
)

// baseCmdline is the kernel command line before the guest spec. The devices are found on
// PCI; panic=-1 ends a VM whose kernel panics instead of leaving it hung.
const baseCmdline = "console=ttyS0 reboot=k panic=-1 loglevel=6"

// apiPrefix is where Cloud Hypervisor's API lives on its socket.
const apiPrefix = "/api/v1"

// container is one Cloud Hypervisor VM; vmm.Machine holds what every VMM shares.
type container struct {
	*vmm.Machine
	d      *Driver
	config VMConfig
	api    *unixapi.Client // set by Create, used by Start
}

func (c *container) apiSock() string { return filepath.Join(c.Dir, "ch.sock") }
func (c *container) logPath() string { return filepath.Join(c.RawDir, "cloud-hypervisor.log") }

// New implements runtime.Driver: the guest spec, the per-VM disk copy, the tap device and
// the VM configuration.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	m, err := d.NewMachine(ctx, s, baseCmdline)
	if err != nil {
		return nil, err
	}
	c := &container{Machine: m, d: d}
	c.config = buildConfig(d.BootParams(m))
	return c, nil
}

// Create implements runtime.Container: cloud-hypervisor starts with only its API socket
// and gets the whole configuration (vm.create): the VM exists, no guest code ran.
func (c *container) Create(ctx context.Context) error {
	// Its own log goes to a file, so the serial console (stdout) carries only the guest.
	cmd := exec.Command(c.d.Binary, "--api-socket", "path="+c.apiSock(), "--log-file", c.logPath(), "-v")
	api := unixapi.New(DriverName, c.apiSock(), apiPrefix)
	if err := c.LaunchAPI(ctx, cmd, api, "/vmm.ping", c.logPath()); err != nil {
		return err
	}
	c.api = api
	if err := api.Put(ctx, "/vm.create", c.config); err != nil {
		return fmt.Errorf("%w (cloud-hypervisor log: %s)", err, vmm.TailOfFile(c.logPath()))
	}
	return nil
}

// Start implements runtime.Container: vm.boot, returning when Cloud Hypervisor says the
// VM runs.
func (c *container) Start(ctx context.Context) error {
	return c.StartWith(ctx, func(ctx context.Context) error {
		if err := c.api.Put(ctx, "/vm.boot", nil); err != nil {
			return fmt.Errorf("%w (cloud-hypervisor log: %s)", err, vmm.TailOfFile(c.logPath()))
		}
		return nil
	})
}
