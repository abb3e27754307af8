package qemu

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

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/vm"
)

// cleanup kills qemu processes that a killed run left (they carry -name isobench-...)
// and removes VM tap devices (isbvm...); the state directories under <home>/run are the
// run's to sweep.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	var removed []string
	var errs []error
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		argv, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := bytes.Split(argv, []byte{0})
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(string(args[0])), "qemu-system") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if string(args[i]) == "-name" && strings.HasPrefix(string(args[i+1]), runtime.NamePrefix) {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
					removed = append(removed, fmt.Sprintf("qemu process %d (%s)", pid, args[i+1]))
				}
				break
			}
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
		if name := l.Attrs().Name; strings.HasPrefix(name, vm.TapPrefix) && l.Type() == "tuntap" {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("removing tap %s: %w", name, err))
				continue
			}
			removed = append(removed, "tap "+name)
		}
	}
	return removed, errors.Join(errs...)
}
