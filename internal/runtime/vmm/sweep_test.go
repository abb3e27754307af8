package vmm

import "testing"

func TestLeftoverVMIsFoundByItsSocket(t *testing.T) {
	argv := func(s ...string) []string { return s }
	run := "/var/lib/isobench/run/"
	for _, args := range [][]string{
		argv("/usr/bin/firecracker", "--api-sock", run+"isobench-a1/firecracker.sock", "--id", "isobench-a1"),
		argv("firecracker", "--api-sock="+run+"isobench-a1/firecracker.sock"),
	} {
		if id, ok := LeftoverVM(args, "firecracker", "--api-sock", run); !ok || id != "isobench-a1" {
			t.Errorf("leftover not found in %q: %q %v", args, id, ok)
		}
	}
	for _, args := range [][]string{
		argv("cloud-hypervisor", "--api-socket", "path="+run+"isobench-b2/ch.sock"),
		argv("/opt/ch/cloud-hypervisor", "--api-socket", run+"isobench-b2/ch.sock"),
	} {
		if id, ok := LeftoverVM(args, "cloud-hypervisor", "--api-socket", run); !ok || id != "isobench-b2" {
			t.Errorf("leftover not found in %q: %q %v", args, id, ok)
		}
	}
	if _, ok := LeftoverVM(argv("firecracker", "--api-sock=/tmp/other.sock"), "firecracker", "--api-sock", run); ok {
		t.Error("a firecracker outside isobench's run directory was taken")
	}
	if _, ok := LeftoverVM(argv("firecracker", "--api-sock", run+"mine/x.sock"), "firecracker", "--api-sock", run); ok {
		t.Error("a VM in the run directory without isobench's prefix was taken")
	}
	if _, ok := LeftoverVM(argv("qemu-system-x86_64", "--api-sock", run+"isobench-a1/x"), "firecracker", "--api-sock", run); ok {
		t.Error("a process that is not firecracker was taken")
	}
}
