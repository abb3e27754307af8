package firecracker

import (
	"context"

	"github.com/isobench/isobench/internal/runtime/vmm/unixapi"
)

// The request bodies of Firecracker's API, with the JSON names of its swagger
// definition (firecracker-go-sdk's client/models marshal to the same).

// BootSource is PUT /boot-source.
type BootSource struct {
	KernelImagePath string `json:"kernel_image_path"`
	InitrdPath      string `json:"initrd_path,omitempty"`
	BootArgs        string `json:"boot_args,omitempty"`
}

// MachineConfiguration is PUT /machine-config.
type MachineConfiguration struct {
	VcpuCount  int   `json:"vcpu_count"`
	MemSizeMib int64 `json:"mem_size_mib"`
	Smt        bool  `json:"smt"`
}

// Drive is PUT /drives/{drive_id}.
type Drive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
	CacheType    string `json:"cache_type,omitempty"`
}

// NetworkInterface is PUT /network-interfaces/{iface_id}.
type NetworkInterface struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
	GuestMac    string `json:"guest_mac,omitempty"`
}

// InstanceActionInfo is PUT /actions.
type InstanceActionInfo struct {
	ActionType string `json:"action_type"`
}

// Config is one VM's configuration, in the order Create sends it; as JSON it is also
// Firecracker's --config-file format.
type Config struct {
	BootSource        BootSource           `json:"boot-source"`
	MachineConfig     MachineConfiguration `json:"machine-config"`
	Drives            []Drive              `json:"drives"`
	NetworkInterfaces []NetworkInterface   `json:"network-interfaces"`
}

// configure sends a whole Config (everything before InstanceStart).
func configure(ctx context.Context, a *unixapi.Client, c Config) error {
	if err := a.Put(ctx, "/machine-config", c.MachineConfig); err != nil {
		return err
	}
	if err := a.Put(ctx, "/boot-source", c.BootSource); err != nil {
		return err
	}
	for _, d := range c.Drives {
		if err := a.Put(ctx, "/drives/"+d.DriveID, d); err != nil {
			return err
		}
	}
	for _, n := range c.NetworkInterfaces {
		if err := a.Put(ctx, "/network-interfaces/"+n.IfaceID, n); err != nil {
			return err
		}
	}
	return nil
}
