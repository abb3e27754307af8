package runtime

import (
	"strings"

	"github.com/isobench/isobench/internal/procs"
)

// Roles of a container's host processes.
const (
	RoleWorkload = "workload" // the container's own processes
	RoleShim     = "shim"     // an engine's per-container monitor (containerd shim, conmon)
	RoleSandbox  = "sandbox"  // gVisor's sandbox (runsc boot)
	RoleGofer    = "gofer"    // gVisor's file proxy (runsc gofer)
	RoleVMM      = "vmm"      // a microVM's monitor process
)

// ProcessTree lists pid and its descendants, all with one role.
func ProcessTree(pid int, role string) []Process {
	out := []Process{{PID: pid, Role: role}}
	for _, p := range procs.Descendants(pid) {
		out = append(out, Process{PID: p, Role: role})
	}
	return out
}

// ShimTree lists the processes of a container whose first process is pid: its parent, the
// engine's per-container monitor (containerd shim, conmon), as RoleShim, and everything
// under the monitor: gVisor's sandbox and gofer by their roles, the rest as RoleWorkload.
func ShimTree(pid int) []Process {
	shim := procs.ParentPID(pid)
	if shim <= 1 {
		return ProcessTree(pid, RoleWorkload)
	}
	out := []Process{{PID: shim, Role: RoleShim}}
	for _, p := range procs.Descendants(shim) {
		out = append(out, Process{PID: p, Role: RunscRole(procs.Cmdline(p))})
	}
	return out
}

// RunscRole is the role of a process with argument vector args: RoleSandbox or RoleGofer
// for runsc's, RoleWorkload for any other.
func RunscRole(args []string) string {
	if len(args) == 0 || !strings.Contains(args[0], "runsc") {
		return RoleWorkload
	}
	for _, a := range args[1:] {
		switch a {
		case "boot":
			return RoleSandbox
		case "gofer":
			return RoleGofer
		}
	}
	return RoleSandbox
}
