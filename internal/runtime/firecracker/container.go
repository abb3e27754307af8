package firecracker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
	"github.com/isobench/isobench/internal/runtime/vmm/unixapi"
)

// baseCmdline is the kernel command line before the guest spec.
//
// Debian's cloud kernel builds virtio_mmio as a module WITHOUT
// CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, so the virtio_mmio.device= entries older Firecracker
// releases append cannot announce the devices (and the kernel does not apply
// <module>.<param>= to modules the agent loads later with finit_module). What finds the
// disk and the NIC with this kernel is ACPI: Firecracker describes its virtio-mmio devices
// in the DSDT since its ACPI support (firecracker PR #4428, 2024), which virtio_mmio
// matches as under qemu's microvm. So ACPI stays on (no acpi=off), and older Firecracker
// releases need a kernel with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y. The guest side of
// this (PVH vmlinux, modules, ACPI discovery of virtio-mmio) boots under QEMU in the tests;
// Firecracker itself was never run on the machine this was written on (no binary, and a
// KVM that refuses ordinary guests).
const baseCmdline = "console=ttyS0 reboot=k panic=-1 pci=off"

// buildConfig is the machine configuration Create sends through the API.
func buildConfig(p vmm.BootParams) Config {
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
			IfaceID: "eth0", HostDevName: p.Tap.Name, GuestMac: vmm.GuestMAC(p.Tap.GuestIP)})
	}
	return c
}

// container is one Firecracker VM; vmm.Machine holds what every VMM shares.
type container struct {
	*vmm.Machine
	d      *Driver
	config Config
	api    *unixapi.Client // set by Create, used by Start
}

func (c *container) apiSock() string { return filepath.Join(c.Dir, "firecracker.sock") }
func (c *container) logPath() string { return filepath.Join(c.RawDir, "firecracker.log") }

// New implements runtime.Driver: the guest spec, the per-VM disk copy, the tap device,
// the machine configuration and the VMM's log file.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	m, err := d.NewMachine(ctx, s, baseCmdline)
	if err != nil {
		return nil, err
	}
	c := &container{Machine: m, d: d}
	c.config = buildConfig(d.BootParams(m))
	// --log-path must exist; it keeps firecracker's own log off the serial console (stdout).
	if err := os.WriteFile(c.logPath(), nil, 0o644); err != nil {
		_ = m.Release(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("creating firecracker log: %w", err)
	}
	return c, nil
}

// Create implements runtime.Container: firecracker starts with its API socket in the
// state directory and gets the whole configuration, but no InstanceStart: no guest code ran.
func (c *container) Create(ctx context.Context) error {
	cmd := exec.Command(c.d.Binary, "--api-sock", c.apiSock(), "--id", c.ID(),
		"--log-path", c.logPath(), "--level", "Warning")
	api := unixapi.New(DriverName, c.apiSock(), "")
	if err := c.LaunchAPI(ctx, cmd, api, "/", c.logPath()); err != nil {
		return err
	}
	c.api = api
	if err := configure(ctx, api, c.config); err != nil {
		return fmt.Errorf("%w (firecracker log: %s)", err, vmm.TailOfFile(c.logPath()))
	}
	return nil
}

// Start implements runtime.Container: InstanceStart, returning when Firecracker says the
// vCPUs run.
func (c *container) Start(ctx context.Context) error {
	return c.StartWith(ctx, func(ctx context.Context) error {
		return c.api.Put(ctx, "/actions", InstanceActionInfo{ActionType: "InstanceStart"})
	})
}
