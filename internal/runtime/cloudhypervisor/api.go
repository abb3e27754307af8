package cloudhypervisor

import (
	"net"
	"net/netip"

	"github.com/isobench/isobench/internal/runtime/vmm"
)

// The request bodies of Cloud Hypervisor's REST API (vmm/src/api/openapi/cloud-hypervisor.yaml),
// with only the fields isobench sets; the tests check them against that definition.

// VMConfig is PUT /api/v1/vm.create.
type VMConfig struct {
	CPUs    CPUsConfig    `json:"cpus"`
	Memory  MemoryConfig  `json:"memory"`
	Payload PayloadConfig `json:"payload"`
	Disks   []DiskConfig  `json:"disks,omitempty"`
	Net     []NetConfig   `json:"net,omitempty"`
	Serial  ConsoleConfig `json:"serial"`
	Console ConsoleConfig `json:"console"`
}

// CPUsConfig is the vCPUs at boot; no hotplug.
type CPUsConfig struct {
	BootVCPUs int `json:"boot_vcpus"`
	MaxVCPUs  int `json:"max_vcpus"`
}

// MemoryConfig is the guest RAM in bytes.
type MemoryConfig struct {
	Size int64 `json:"size"`
}

// PayloadConfig is a direct kernel boot.
type PayloadConfig struct {
	Kernel    string `json:"kernel"`
	Initramfs string `json:"initramfs,omitempty"`
	Cmdline   string `json:"cmdline,omitempty"`
}

// DiskConfig is one virtio-blk disk.
type DiskConfig struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly"`
}

// NetConfig is one virtio-net device on an existing tap. IP and mask are the host side of
// the tap as isobench set it, so that Cloud Hypervisor's defaults (192.168.249.1/24)
// never reach the host.
type NetConfig struct {
	Tap  string `json:"tap"`
	IP   string `json:"ip"`
	Mask string `json:"mask"`
	MAC  string `json:"mac"`
}

// ConsoleConfig is where a serial port or virtio console goes: "Tty" is the VMM's stdout.
type ConsoleConfig struct {
	Mode string `json:"mode"`
}

// buildConfig is the VM configuration Create sends. The serial port carries the console
// and the agent's protocol; the virtio console stays off.
func buildConfig(p vmm.BootParams) VMConfig {
	c := VMConfig{
		CPUs:    CPUsConfig{BootVCPUs: p.VCPUs, MaxVCPUs: p.VCPUs},
		Memory:  MemoryConfig{Size: p.MemBytes},
		Payload: PayloadConfig{Kernel: p.Vmlinux, Initramfs: p.Initrd, Cmdline: p.Cmdline},
		// Writable: it is this VM's own copy.
		Disks:   []DiskConfig{{Path: p.Disk, Readonly: false}},
		Serial:  ConsoleConfig{Mode: "Tty"},
		Console: ConsoleConfig{Mode: "Off"},
	}
	if p.Tap != nil {
		c.Net = []NetConfig{{Tap: p.Tap.Name, IP: p.Tap.HostIP.String(), Mask: maskOf(p.Tap.Bits),
			MAC: vmm.GuestMAC(p.Tap.GuestIP)}}
	}
	return c
}

func maskOf(bits int) string {
	m := net.CIDRMask(bits, 32)
	return netip.AddrFrom4([4]byte{m[0], m[1], m[2], m[3]}).String()
}
