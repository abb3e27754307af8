package firecracker

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
	"github.com/isobench/isobench/internal/runtime/vmm/tap"
)

func TestMachineConfigJSON(t *testing.T) {
	testTap := &tap.Tap{Name: "isbvm0000abcd", HostIP: netip.MustParseAddr("198.19.128.1"), GuestIP: netip.MustParseAddr("198.19.128.2"), Bits: 30}
	c := buildConfig(vmm.BootParams{VCPUs: 2, MemBytes: 512 << 20, Vmlinux: "/a/vmlinux", Initrd: "/a/init.cpio",
		Cmdline: "console=ttyS0", Disk: "/run/x/rootfs.ext4", Tap: testTap})
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"boot-source":{"kernel_image_path":"/a/vmlinux","initrd_path":"/a/init.cpio","boot_args":"console=ttyS0"},` +
		`"machine-config":{"vcpu_count":2,"mem_size_mib":512,"smt":false},` +
		`"drives":[{"drive_id":"rootfs","path_on_host":"/run/x/rootfs.ext4","is_root_device":false,"is_read_only":false,"cache_type":"Unsafe"}],` +
		`"network-interfaces":[{"iface_id":"eth0","host_dev_name":"isbvm0000abcd","guest_mac":"52:54:c6:13:80:02"}]}`
	if string(got) != want {
		t.Errorf("config\n got %s\nwant %s", got, want)
	}
	c = buildConfig(vmm.BootParams{VCPUs: 1, MemBytes: 128 << 20, Vmlinux: "/k", Disk: "/d"})
	got, _ = json.Marshal(c)
	if !strings.Contains(string(got), `"network-interfaces":[]`) || strings.Contains(string(got), "initrd_path") {
		t.Errorf("config without network or initrd: %s", got)
	}
}

func TestKernelCmdlineLeavesDeviceDiscoveryToACPI(t *testing.T) {
	if strings.Contains(baseCmdline, "acpi=off") || strings.Contains(baseCmdline, "root=") {
		t.Errorf("cmdline %q must keep ACPI and leave the root to the agent", baseCmdline)
	}
}

func TestProfileOptions(t *testing.T) {
	for _, opts := range []map[string]string{{"jailer": "true"}, {"cpus": "0"}, {"memory": "lots"}, {"boot_timeout": "soon"}} {
		if _, err := New(runtime.Profile{Name: "x", Driver: DriverName, Options: opts}, runtime.Env{}); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}
