package cloudhypervisor

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
	"github.com/isobench/isobench/internal/runtime/vmm/tap"
	"github.com/isobench/isobench/internal/runtime/vmm/unixapi"
	"github.com/isobench/isobench/internal/runtime/vmm/vmmapitest"
)

// testTap is built directly: a real tap needs root and is not what these tests check.
var testTap = &tap.Tap{Name: "isbvm0000abcd", HostIP: netip.MustParseAddr("198.19.128.1"), GuestIP: netip.MustParseAddr("198.19.128.2"), Bits: 30}

// TestAPIRequestsFitTheSpec runs Create's and Start's requests against a server that
// checks each against Cloud Hypervisor's own OpenAPI definition.
func TestAPIRequestsFitTheSpec(t *testing.T) {
	spec := vmmapitest.Load(t, "cloud-hypervisor.yaml")
	want := []string{"GET /api/v1/vmm.ping", "PUT /api/v1/vm.create", "PUT /api/v1/vm.boot"}
	for _, vmTap := range []*tap.Tap{nil, testTap} {
		sock := filepath.Join(t.TempDir(), "ch.sock")
		rec := spec.Serve(t, sock)
		api := unixapi.New(DriverName, sock, apiPrefix)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := api.WaitReady(ctx, "/vmm.ping", make(chan struct{})); err != nil {
			t.Fatalf("ping: %v", err)
		}
		config := buildConfig(vmm.BootParams{VCPUs: 2, MemBytes: 512 << 20, Vmlinux: "/a/vmlinux", Initrd: "/a/init.cpio",
			Cmdline: baseCmdline, Disk: "/run/x/rootfs.ext4", Tap: vmTap})
		if err := api.Put(ctx, "/vm.create", config); err != nil {
			t.Fatalf("vm.create: %v", err)
		}
		if err := api.Put(ctx, "/vm.boot", nil); err != nil {
			t.Fatalf("vm.boot: %v", err)
		}
		cancel()
		api.Close()
		if got := rec.Calls(); !slices.Equal(got, want) {
			t.Errorf("requests\n got %q\nwant %q", got, want)
		}
	}
}

func TestVMConfigJSON(t *testing.T) {
	c := buildConfig(vmm.BootParams{VCPUs: 2, MemBytes: 512 << 20, Vmlinux: "/a/vmlinux", Initrd: "/a/init.cpio",
		Cmdline: "console=ttyS0", Disk: "/run/x/rootfs.ext4", Tap: testTap})
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cpus":{"boot_vcpus":2,"max_vcpus":2},"memory":{"size":536870912},` +
		`"payload":{"kernel":"/a/vmlinux","initramfs":"/a/init.cpio","cmdline":"console=ttyS0"},` +
		`"disks":[{"path":"/run/x/rootfs.ext4","readonly":false}],` +
		// The host side of the tap as isobench set it: never Cloud Hypervisor's 192.168.249.1/24 default.
		`"net":[{"tap":"isbvm0000abcd","ip":"198.19.128.1","mask":"255.255.255.252","mac":"52:54:c6:13:80:02"}],` +
		`"serial":{"mode":"Tty"},"console":{"mode":"Off"}}`
	if string(got) != want {
		t.Errorf("config\n got %s\nwant %s", got, want)
	}
	got, _ = json.Marshal(buildConfig(vmm.BootParams{VCPUs: 1, MemBytes: 128 << 20, Vmlinux: "/k", Disk: "/d"}))
	if strings.Contains(string(got), `"net"`) || strings.Contains(string(got), "initramfs") {
		t.Errorf("config without network or initrd: %s", got)
	}
}

// TestPutReportsTheVMMsAnswer: a rejected request fails with the status and the message.
func TestPutReportsTheVMMsAnswer(t *testing.T) {
	spec := vmmapitest.Load(t, "cloud-hypervisor.yaml")
	collected := vmmapitest.CollectErrors(t) // the bad request is on purpose
	sock := filepath.Join(t.TempDir(), "ch.sock")
	spec.Serve(collected, sock)
	api := unixapi.New(DriverName, sock, apiPrefix)
	defer api.Close()
	bad := buildConfig(vmm.BootParams{VCPUs: 0, MemBytes: 128 << 20, Vmlinux: "/k", Disk: "/d"})
	err := api.Put(context.Background(), "/vm.create", bad)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "boot_vcpus") {
		t.Errorf("Put = %v; want the 400 and what was wrong", err)
	}
	if len(collected.Errors()) != 1 {
		t.Errorf("server reports: %q", collected.Errors())
	}
}

func TestProfileOptions(t *testing.T) {
	for _, opts := range []map[string]string{{"cpus": "0"}, {"cpus": "999"}, {"memory": "lots"}, {"boot_timeout": "soon"}} {
		if _, err := New(runtime.Profile{Name: "x", Driver: DriverName, Options: opts}, runtime.Env{}); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}
