package containerd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/isobench/isobench/internal/runtime"
)

// ShimTree lists the processes of a container whose first process is pid: its parent, the
// engine's per-container monitor (containerd shim, conmon), as "shim", and everything
// under the monitor: gVisor's sandbox and gofer by their roles, the rest as "workload".
func ShimTree(pid int) []runtime.Process {
	shim := ParentPID(pid)
	if shim <= 1 {
		return runtime.ProcessTree(pid, "workload")
	}
	out := []runtime.Process{{PID: shim, Role: "shim"}}
	for _, p := range runtime.Descendants(shim) {
		out = append(out, runtime.Process{PID: p, Role: roleOf(p)})
	}
	return out
}

func roleOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "workload"
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) == 0 || !strings.Contains(args[0], "runsc") {
		return "workload"
	}
	for _, a := range args[1:] {
		switch a {
		case "boot":
			return "sandbox"
		case "gofer":
			return "gofer"
		}
	}
	return "sandbox"
}

// ParentPID reads a process's parent from /proc/PID/stat; 0 when it is gone.
func ParentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// FileSHA256 hashes a file, for Status.SHA256.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
