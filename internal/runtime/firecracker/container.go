package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/vm"
)

// Phase names, shared with the other microVM drivers; vmm_started is InstanceStart's answer.
const (
	PhaseVMMStarted      = vm.PhaseVMMStarted
	PhaseKernelStart     = vm.PhaseKernelStart
	PhaseInitReached     = vm.PhaseInitReached
	PhaseWorkloadStarted = vm.PhaseWorkloadStarted
	PhaseWorkloadExit    = vm.PhaseWorkloadExit
)

// baseCmdline is the kernel command line before the guest spec. Firecracker appends the
// virtio_mmio.device=... parameters of its devices itself.
//
// UNTESTED (no firecracker binary and no KVM that runs ordinary guests on the machine this
// was written on). Debian's cloud kernel builds virtio_mmio as a module WITHOUT
// CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (see /boot/config-*-cloud-amd64), so the module has
// no "device" parameter and the virtio_mmio.device= entries cannot announce the devices;
// besides, the kernel does not apply <module>.<param>= from its command line to modules
// loaded later (modprobe does that, and the agent loads modules with finit_module and no
// parameters). What can find the disk and the NIC with this kernel is ACPI: Firecracker
// 1.10 and later describe their virtio-mmio devices in the DSDT (LNRO0005), which
// virtio_mmio matches, as under qemu's microvm. So ACPI must stay on (no acpi=off here),
// and older Firecracker releases need a kernel with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y.
const baseCmdline = "console=ttyS0 reboot=k panic=-1 pci=off"

// vmParams is what a VM's configuration depends on.
type vmParams struct {
	VCPUs    int
	MemBytes int64
	Vmlinux  string
	Initrd   string
	Cmdline  string
	Disk     string // the per-VM copy of the image's disk
	Tap      *vm.Tap
}

// buildConfig is the machine configuration Create sends through the API.
func buildConfig(p vmParams) Config {
	c := Config{
		BootSource:    BootSource{KernelImagePath: p.Vmlinux, InitrdPath: p.Initrd, BootArgs: p.Cmdline},
		MachineConfig: MachineConfiguration{VcpuCount: p.VCPUs, MemSizeMib: p.MemBytes >> 20, Smt: false},
		// Not the root device: the agent mounts /dev/vda itself, and is_root_device would
		// add root=/dev/vda to the command line. Writable, since it is this VM's own copy.
		Drives:            []Drive{{DriveID: "rootfs", PathOnHost: p.Disk, IsRootDevice: false, IsReadOnly: false, CacheType: "Unsafe"}},
		NetworkInterfaces: []NetworkInterface{},
	}
	if p.Tap != nil {
		c.NetworkInterfaces = append(c.NetworkInterfaces, NetworkInterface{
			IfaceID: "eth0", HostDevName: p.Tap.Name, GuestMac: vm.GuestMAC(p.Tap.GuestIP)})
	}
	return c
}

// container is one Firecracker VM; vm.Machine holds what every VMM shares.
type container struct {
	*vm.Machine
	d      *Driver
	config Config

	mu  sync.Mutex
	api *vm.UnixAPI
}

func (c *container) apiSock() string { return filepath.Join(c.Dir, "firecracker.sock") }

// New implements runtime.Driver: the guest spec, the per-VM disk copy, the tap device and
// the machine configuration.
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

// Create implements runtime.Container: firecracker starts with its API socket in the
// state directory and gets the whole configuration, but no InstanceStart: no guest code ran.
func (c *container) Create(ctx context.Context) error {
	if err := c.BuildInitramfs(); err != nil {
		return err
	}
	logPath := filepath.Join(c.RawDir, "firecracker.log")
	// --log-path must exist; it keeps firecracker's own log off the serial console (stdout).
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return fmt.Errorf("creating firecracker log: %w", err)
	}
	cmd := exec.Command(c.d.Binary, "--api-sock", c.apiSock(), "--id", c.ID(),
		"--log-path", logPath, "--level", "Warning")
	if err := c.Launch(cmd); err != nil {
		return err
	}
	api := vm.NewUnixAPI(DriverName, c.apiSock(), "")
	c.mu.Lock()
	c.api = api
	c.mu.Unlock()
	c.OnDelete(api.Close)
	// The agent powers off, which Firecracker may not turn into its own exit (UNTESTED
	// for lack of KVM; a panic with reboot=k does make it exit).
	c.StopAfterExit(2 * time.Second)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := api.WaitReady(actx, "/", c.Exited()); err != nil {
		return fmt.Errorf("%w (firecracker log: %s)", err, vm.TailOfFile(logPath))
	}
	if err := configure(actx, api, c.config); err != nil {
		return fmt.Errorf("%w (firecracker log: %s)", err, vm.TailOfFile(logPath))
	}
	return nil
}

// Start implements runtime.Container: InstanceStart, returning when Firecracker says the
// vCPUs run. The guest's own phases follow asynchronously (see Phases).
func (c *container) Start(ctx context.Context) error {
	c.mu.Lock()
	api := c.api
	c.mu.Unlock()
	if api == nil {
		return errors.New("firecracker: Start before Create")
	}
	before := time.Now()
	if err := api.Put(ctx, "/actions", InstanceActionInfo{ActionType: "InstanceStart"}); err != nil {
		return err
	}
	c.Started(before, time.Now())
	return nil
}
