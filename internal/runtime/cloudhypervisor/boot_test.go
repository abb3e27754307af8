package cloudhypervisor

import (
	"testing"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/vmmtest"
	"github.com/isobench/isobench/internal/testutil/testbin"
)

// TestBootRunsWorkload needs cloud-hypervisor and a KVM that runs ordinary guests; where
// either is missing it skips with Check's reason.
func TestBootRunsWorkload(t *testing.T) {
	vmmtest.BootRunsWorkload(t, DriverName, "cloud-hypervisor", New)
}

// TestGuestBootsUnderQEMU boots this driver's guest (vmlinux via PVH, virtio_pci, its
// command line) under QEMU with virtio-pci devices, as Cloud Hypervisor presents them.
func TestGuestBootsUnderQEMU(t *testing.T) {
	drv, err := New(runtime.Profile{Name: DriverName, Driver: DriverName,
		Options: map[string]string{"agent": testbin.Build(t)}}, runtime.Env{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	vmmtest.GuestBootsUnderQEMU(t, drv.(*Driver).KVMDriver, baseCmdline, vmmtest.PCI)
}

// TestGuestPanicEndsTheVM: Cloud Hypervisor reboots a guest that resets, which reboot=k
// makes a panicking kernel do; isobench ends the VM on the panic instead.
func TestGuestPanicEndsTheVM(t *testing.T) {
	drv, err := New(runtime.Profile{Name: DriverName, Driver: DriverName,
		Options: map[string]string{"agent": testbin.Build(t)}}, runtime.Env{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	vmmtest.GuestPanicEndsTheVM(t, drv.(*Driver).KVMDriver, baseCmdline, vmmtest.PCI)
}
