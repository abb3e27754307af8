package vm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
)

// SweepSocketVMMs is the cleanup of VMMs that isobench knows by their API socket
// (Firecracker, Cloud Hypervisor): it kills the processes of binary whose socket flag
// points into <home>/run/isobench-*, which a killed run left, and removes the taps those
// VMs held (a tap's alias is its container id). The state directories under <home>/run
// are the run's to sweep.
func SweepSocketVMMs(env runtime.Env, binary, sockFlag string) ([]string, error) {
	home := env.Home
	if home == "" {
		home = image.Home("")
	}
	runDir := filepath.Join(home, "run") + string(filepath.Separator)
	var removed []string
	ids := map[string]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		argv, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		id, ok := LeftoverVM(bytes.Split(bytes.TrimRight(argv, "\x00"), []byte{0}), binary, sockFlag, runDir)
		if !ok {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			removed = append(removed, fmt.Sprintf("%s process %d (%s)", binary, pid, id))
			ids[id] = true
		}
	}
	if len(ids) == 0 {
		return removed, nil
	}
	time.Sleep(100 * time.Millisecond) // let the kernel release the taps the VMs held
	links, err := netlink.LinkList()
	if err != nil {
		return removed, fmt.Errorf("listing links: %w", err)
	}
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		if !strings.HasPrefix(a.Name, TapPrefix) || l.Type() != "tuntap" || !ids[a.Alias] {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("removing tap %s: %w", a.Name, err))
			continue
		}
		removed = append(removed, "tap "+a.Name)
	}
	return removed, errors.Join(errs...)
}

// LeftoverVM tells whether argv is a process of binary whose sockFlag (given as
// "--flag path", "--flag=path" or Cloud Hypervisor's "--flag path=..." form) lies in
// <runDir>isobench-*, and returns that container id.
func LeftoverVM(argv [][]byte, binary, sockFlag, runDir string) (string, bool) {
	if len(argv) == 0 || filepath.Base(string(argv[0])) != binary {
		return "", false
	}
	for i := 0; i < len(argv); i++ {
		a := string(argv[i])
		var sock string
		if v, ok := strings.CutPrefix(a, sockFlag+"="); ok {
			sock = v
		} else if a == sockFlag && i+1 < len(argv) {
			sock = string(argv[i+1])
		} else {
			continue
		}
		sock = strings.TrimPrefix(sock, "path=")
		sock, _, _ = strings.Cut(sock, ",")
		rel, ok := strings.CutPrefix(filepath.Clean(sock), runDir)
		if !ok {
			return "", false
		}
		id, _, _ := strings.Cut(rel, string(filepath.Separator))
		return id, strings.HasPrefix(id, runtime.NamePrefix)
	}
	return "", false
}
