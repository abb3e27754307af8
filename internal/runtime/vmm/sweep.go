package vmm

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/tap"
)

// VMMMatcher tells whether a process's argv is a VMM of isobench's, and names its VM.
type VMMMatcher func(argv []string) (id string, ok bool)

// SweepVMMs is the leftover sweep of a VMM driver: it kills the VMM processes match
// recognizes (a killed run's; their VMs die with isobench otherwise, through Pdeathsig)
// and removes every VM tap (isbvm...), which only isobench makes and which outlives a
// killed run whether or not its VMM did. The state directories under <home>/run are
// the run's to sweep.
func SweepVMMs(what string, match VMMMatcher) ([]string, error) {
	var removed []string
	pids, err := procs.All()
	if err != nil {
		return nil, err
	}
	for _, pid := range pids {
		id, ok := match(procs.Cmdline(pid))
		if !ok {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			removed = append(removed, fmt.Sprintf("%s process %d (%s)", what, pid, id))
		}
	}
	if len(removed) > 0 {
		time.Sleep(100 * time.Millisecond) // let the kernel release the taps the VMs held
	}
	links, err := netlink.LinkList()
	if err != nil {
		return removed, fmt.Errorf("listing links: %w", err)
	}
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if !strings.HasPrefix(name, tap.Prefix) || l.Type() != "tuntap" {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("removing tap %s: %w", name, err))
			continue
		}
		removed = append(removed, "tap "+name)
	}
	return removed, errors.Join(errs...)
}

// SocketVMM matches the VMMs isobench knows by their API socket (Firecracker, Cloud
// Hypervisor): binary with sockFlag pointing into <home>/run/isobench-*.
func SocketVMM(env runtime.Env, binary, sockFlag string) VMMMatcher {
	home := env.Home
	if home == "" {
		home = image.Home("")
	}
	runDir := filepath.Join(home, "run") + string(filepath.Separator)
	return func(argv []string) (string, bool) { return LeftoverVM(argv, binary, sockFlag, runDir) }
}

// LeftoverVM tells whether argv is a process of binary whose sockFlag (given as
// "--flag path", "--flag=path" or Cloud Hypervisor's "--flag path=..." form) lies in
// <runDir>isobench-*, and returns that container id.
func LeftoverVM(argv []string, binary, sockFlag, runDir string) (string, bool) {
	if len(argv) == 0 || filepath.Base(argv[0]) != binary {
		return "", false
	}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		var sock string
		if v, ok := strings.CutPrefix(a, sockFlag+"="); ok {
			sock = v
		} else if a == sockFlag && i+1 < len(argv) {
			sock = argv[i+1]
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
