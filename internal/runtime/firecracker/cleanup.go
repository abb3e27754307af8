package firecracker

import (
	"bytes"
	"context"
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

// cleanup kills firecracker processes that a killed run left (their API socket lies under
// <home>/run/isobench-*) and removes the taps those VMs held (alias = the container id).
// The state directories under <home>/run are the run's to sweep.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	home := env.Home
	if home == "" {
		home = image.Home("")
	}
	runDir := filepath.Join(home, "run") + string(filepath.Separator)
	var removed []string
	var errs []error
	ids := map[string]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		argv, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		id, ok := leftoverVM(bytes.Split(bytes.TrimRight(argv, "\x00"), []byte{0}), runDir)
		if !ok {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			removed = append(removed, fmt.Sprintf("firecracker process %d (%s)", pid, id))
			ids[id] = true
		}
	}
	if len(removed) > 0 {
		time.Sleep(100 * time.Millisecond) // let the kernel release the taps the VMs held
	}
	links, err := netlink.LinkList()
	if err != nil {
		return removed, fmt.Errorf("listing links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		if !strings.HasPrefix(a.Name, "isbvm") || l.Type() != "tuntap" || !ids[a.Alias] {
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

// leftoverVM tells whether argv is a firecracker whose --api-sock lies in
// <runDir>isobench-*, and returns that container id.
func leftoverVM(argv [][]byte, runDir string) (string, bool) {
	if len(argv) == 0 || filepath.Base(string(argv[0])) != "firecracker" {
		return "", false
	}
	for i := 0; i < len(argv); i++ {
		a := string(argv[i])
		var sock string
		if v, ok := strings.CutPrefix(a, "--api-sock="); ok {
			sock = v
		} else if a == "--api-sock" && i+1 < len(argv) {
			sock = string(argv[i+1])
		} else {
			continue
		}
		rel, ok := strings.CutPrefix(filepath.Clean(sock), runDir)
		if !ok {
			return "", false
		}
		id, _, _ := strings.Cut(rel, string(filepath.Separator))
		return id, strings.HasPrefix(id, runtime.NamePrefix)
	}
	return "", false
}
