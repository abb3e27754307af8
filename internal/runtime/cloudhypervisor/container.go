package cloudhypervisor

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/vm"
)

// baseCmdline is the kernel command line before the guest spec. The devices are found on
// PCI; panic=-1 ends a VM whose kernel panics instead of leaving it hung.
const baseCmdline = "console=ttyS0 reboot=k panic=-1 loglevel=6"

// apiPrefix is where Cloud Hypervisor's API lives on its socket.
const apiPrefix = "/api/v1"

// container is one Cloud Hypervisor VM; vm.Machine holds what every VMM shares.
type container struct {
	*vm.Machine
	d      *Driver
	config VMConfig

	mu  sync.Mutex
	api *vm.UnixAPI
}

func (c *container) apiSock() string { return filepath.Join(c.Dir, "ch.sock") }

// New implements runtime.Driver: the guest spec, the per-VM disk copy, the tap device and
// the VM configuration.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	m, err := d.NewMachine(ctx, s, baseCmdline)
	if err != nil {
		return nil, err
	}
	c := &container{Machine: m, d: d}
	c.config = buildConfig(vmParams{VCPUs: d.CPUs, MemBytes: d.MemBytes, Vmlinux: d.Vmlinux,
		Initrd: m.Initrd, Cmdline: m.Cmdline, Disk: m.Disk, Tap: m.Tap})
	return c, nil
}

// Create implements runtime.Container: cloud-hypervisor starts with only its API socket
// and gets the whole configuration (vm.create): the VM exists, no guest code ran.
func (c *container) Create(ctx context.Context) error {
	if err := c.BuildInitramfs(); err != nil {
		return err
	}
	logPath := filepath.Join(c.RawDir, "cloud-hypervisor.log")
	// Its own log goes to a file, so the serial console (stdout) carries only the guest.
	cmd := exec.Command(c.d.Binary, "--api-socket", "path="+c.apiSock(), "--log-file", logPath, "-v")
	if err := c.Launch(cmd); err != nil {
		return err
	}
	api := vm.NewUnixAPI(DriverName, c.apiSock(), apiPrefix)
	c.mu.Lock()
	c.api = api
	c.mu.Unlock()
	c.OnDelete(api.Close)
	// The agent powers the guest off; should the VMM stay up after that, it is stopped.
	c.StopAfterExit(2 * time.Second)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := api.WaitReady(actx, "/vmm.ping", c.Exited()); err != nil {
		return fmt.Errorf("%w (cloud-hypervisor log: %s)", err, vm.TailOfFile(logPath))
	}
	if err := api.Put(actx, "/vm.create", c.config); err != nil {
		return fmt.Errorf("%w (cloud-hypervisor log: %s)", err, vm.TailOfFile(logPath))
	}
	return nil
}

// Start implements runtime.Container: vm.boot, returning when Cloud Hypervisor says the
// VM runs. The guest's own phases follow asynchronously (see Phases).
func (c *container) Start(ctx context.Context) error {
	c.mu.Lock()
	api := c.api
	c.mu.Unlock()
	if api == nil {
		return errors.New("cloud-hypervisor: Start before Create")
	}
	before := time.Now()
	if err := api.Put(ctx, "/vm.boot", nil); err != nil {
		return fmt.Errorf("%w (cloud-hypervisor log: %s)", err, vm.TailOfFile(filepath.Join(c.RawDir, "cloud-hypervisor.log")))
	}
	c.Started(before, time.Now())
	return nil
}
