package firecracker

import (
	"testing"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/vmmtest"
	"github.com/isobench/isobench/internal/testutil/testbin"
)

// TestBootRunsWorkload needs firecracker and a KVM that runs ordinary guests; where
// either is missing it skips with Check's reason.
func TestBootRunsWorkload(t *testing.T) {
	vmmtest.BootRunsWorkload(t, DriverName, "firecracker", New)
}

// TestGuestBootsUnderQEMU boots this driver's guest (vmlinux via PVH, virtio_mmio found
// through ACPI, its command line) under QEMU's microvm with virtio-mmio devices.
func TestGuestBootsUnderQEMU(t *testing.T) {
	drv, err := New(runtime.Profile{Name: DriverName, Driver: DriverName,
		Options: map[string]string{"agent": testbin.Build(t)}}, runtime.Env{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	vmmtest.GuestBootsUnderQEMU(t, drv.(*Driver).KVMDriver, baseCmdline, vmmtest.MMIO)
}
