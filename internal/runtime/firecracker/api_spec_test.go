package firecracker

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/runtime/vmm"
	"github.com/isobench/isobench/internal/runtime/vmm/tap"
	"github.com/isobench/isobench/internal/runtime/vmm/unixapi"
	"github.com/isobench/isobench/internal/runtime/vmm/vmmapitest"
)

// TestAPIRequestsFitTheSpec runs the client's whole boot sequence against a server that
// checks every request against Firecracker's own swagger definition.
func TestAPIRequestsFitTheSpec(t *testing.T) {
	spec := vmmapitest.Load(t, "firecracker.yaml")
	// Built directly: creating a real tap needs root and leaves state behind.
	testTap := &tap.Tap{Name: "isbvm0000abcd", HostIP: netip.MustParseAddr("198.19.128.1"), GuestIP: netip.MustParseAddr("198.19.128.2"), Bits: 30}
	for _, c := range []struct {
		name string
		tap  *tap.Tap
		want []string
	}{
		{"without tap", nil, []string{"GET /", "PUT /machine-config", "PUT /boot-source", "PUT /drives/rootfs", "PUT /actions"}},
		{"with tap", testTap, []string{"GET /", "PUT /machine-config", "PUT /boot-source", "PUT /drives/rootfs", "PUT /network-interfaces/eth0", "PUT /actions"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "fc.sock")
			rec := spec.Serve(t, sock)
			api := unixapi.New(DriverName, sock, "")
			defer api.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			if err := api.WaitReady(ctx, "/", make(chan struct{})); err != nil {
				t.Fatalf("waitReady: %v", err)
			}
			config := buildConfig(vmm.BootParams{VCPUs: 2, MemBytes: 512 << 20, Vmlinux: "/a/vmlinux", Initrd: "/a/init.cpio",
				Cmdline: baseCmdline, Disk: "/run/x/rootfs.ext4", Tap: c.tap})
			if err := configure(ctx, api, config); err != nil {
				t.Fatalf("configure: %v", err)
			}
			if err := api.Put(ctx, "/actions", InstanceActionInfo{ActionType: "InstanceStart"}); err != nil {
				t.Fatalf("InstanceStart: %v", err)
			}
			if got := rec.Calls(); !slices.Equal(got, c.want) {
				t.Errorf("requests\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestAPIReportsTheFaultMessage checks that Put fails on a 400 and passes on the
// fault_message Firecracker answers with.
func TestAPIReportsTheFaultMessage(t *testing.T) {
	spec := vmmapitest.Load(t, "firecracker.yaml")
	// The bad request is on purpose: collect the server's report instead of failing.
	collected := vmmapitest.CollectErrors(t)
	sock := filepath.Join(t.TempDir(), "fc.sock")
	rec := spec.Serve(collected, sock)
	api := unixapi.New(DriverName, sock, "")
	defer api.Close()

	err := api.Put(context.Background(), "/actions", InstanceActionInfo{ActionType: "Start"})
	reqs := rec.Requests()
	if len(reqs) != 1 || reqs[0].Problem == nil {
		t.Fatalf("the server did not reject the bad action: %+v", reqs)
	}
	if err == nil || !strings.Contains(err.Error(), reqs[0].Problem.Error()) || !strings.Contains(err.Error(), "400") {
		t.Errorf("put returned %v, want the 400 and the fault message %q", err, reqs[0].Problem)
	}
	if errs := collected.Errors(); len(errs) != 1 || !strings.Contains(errs[0], "action_type") {
		t.Errorf("the server reported %q", errs)
	}
}

// TestSpecAcceptsTheConfigTypes checks each request type's JSON, including fields that
// buildConfig leaves empty, directly against the spec.
func TestSpecAcceptsTheConfigTypes(t *testing.T) {
	spec := vmmapitest.Load(t, "firecracker.yaml")
	spec.CheckBody(t, "PUT", "/boot-source", BootSource{KernelImagePath: "/k"})
	spec.CheckBody(t, "PUT", "/machine-config", MachineConfiguration{VcpuCount: 32, MemSizeMib: 128})
	spec.CheckBody(t, "PUT", "/drives/rootfs", Drive{DriveID: "rootfs", PathOnHost: "/d", IsReadOnly: true})
	spec.CheckBody(t, "PUT", "/network-interfaces/eth0", NetworkInterface{IfaceID: "eth0", HostDevName: "tap0"})
	for _, action := range []string{"InstanceStart", "SendCtrlAltDel", "FlushMetrics"} {
		spec.CheckBody(t, "PUT", "/actions", InstanceActionInfo{ActionType: action})
	}
}
