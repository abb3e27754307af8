package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
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

// container is one Firecracker VM; vmm.APIVM holds what every VMM shares.
type container struct {
	*vmm.APIVM[Config]
	d *Driver
}

// New implements runtime.Driver: the guest spec, the per-VM disk copy, the tap device,
// the machine configuration and the VMM's log file.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	v, err := vmm.NewAPIVM(ctx, d.KVMDriver, s, baseCmdline, "firecracker.sock", "firecracker.log", buildConfig)
	if err != nil {
		return nil, err
	}
	c := &container{APIVM: v, d: d}
	// --log-path must exist; it keeps firecracker's own log off the serial console (stdout).
	if err := os.WriteFile(c.Log(), nil, 0o644); err != nil {
		return nil, errors.Join(fmt.Errorf("creating firecracker log: %w", err), v.Release(context.WithoutCancel(ctx)))
	}
	return c, nil
}

// Create implements runtime.Container: firecracker starts with its API socket in the
// state directory and gets the whole configuration, but no InstanceStart: no guest code ran.
func (c *container) Create(ctx context.Context) error {
	cmd := exec.Command(c.d.Binary, "--api-sock", c.Sock(), "--id", c.ID(),
		"--log-path", c.Log(), "--level", "Warning")
	if err := c.Launch(ctx, cmd, DriverName, "", "/"); err != nil {
		return err
	}
	if err := configure(ctx, c.API, c.Config); err != nil {
		return fmt.Errorf("%w (firecracker log: %s)", err, vmm.TailOfFile(c.Log()))
	}
	return nil
}

// Start implements runtime.Container: InstanceStart, returning when Firecracker says the
// vCPUs run.
func (c *container) Start(ctx context.Context) error {
	return c.StartWith(ctx, func(ctx context.Context) error {
		return c.API.Put(ctx, "/actions", InstanceActionInfo{ActionType: "InstanceStart"})
	})
}
