// Package gvisor holds what every driver that runs runsc (directly or through an engine)
// needs to know about gVisor's network modes on this host.
package gvisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/nsthread"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/strictyaml"
)

// gVisor's network modes: its own user-space stack ("sandbox"), or the host kernel's
// stack inside the container's network namespace ("host").
const (
	NetSandbox = "sandbox"
	NetHost    = "host"
)

// fixedRootNSCheck is the first runsc release whose root-namespace check works on kernels
// that expose net.core.rmem_default in every namespace.
const fixedRootNSCheck = 20240801

var releaseDate = regexp.MustCompile(`(\d{8})`)

// Version returns the first line of `runsc --version` ("" when it cannot run).
func Version(binary string) string {
	out, err := exec.Command(binary, "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// NetworkMode picks the network mode for runsc. An explicit option wins; otherwise
// gVisor's own stack, unless this runsc is one that refuses every namespace as "root" on
// this kernel; then the host stack, with the reason.
func NetworkMode(option, version string) (mode, why string) {
	if option != "" {
		return option, "set by the profile"
	}
	if m := releaseDate.FindString(version); m != "" {
		if date, _ := strconv.Atoi(m); date < fixedRootNSCheck {
			shown, err := rmemDefaultInNewNetns()
			if err != nil {
				return NetSandbox, fmt.Sprintf("gVisor's user-space network stack; whether runsc %s can start it here is unknown: %v", m, err)
			}
			if shown {
				return NetHost, "runsc " + m + " takes every network namespace for the root one on this kernel, so gVisor's own stack cannot start; the host kernel's stack in the container's namespace serves instead (install runsc release-20240801 or later for gVisor's stack)"
			}
		}
	}
	return NetSandbox, "gVisor's user-space network stack"
}

// Stack names the network stack that serves a runsc container in a mode.
func Stack(mode string) string {
	if mode == NetHost {
		return "host-kernel-via-runsc"
	}
	return "gvisor-netstack"
}

// rmemDefaultInNewNetns tells whether a fresh network namespace shows
// /proc/sys/net/core/rmem_default, which old runsc reads as "this is the root namespace".
func rmemDefaultInNewNetns() (bool, error) {
	var statErr error
	err := nsthread.Do(func() error {
		ns, err := netns.New()
		if err == nil {
			ns.Close()
		}
		return err
	}, func() error {
		// /proc/sys/net shows the namespace of the thread that looks.
		_, statErr = os.Stat("/proc/sys/net/core/rmem_default")
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("looking into a new network namespace: %w", err)
	}
	return statErr == nil, nil
}

// DefaultRoot is runsc's state directory when no --root is given.
const DefaultRoot = "/var/run/runsc"

// UnmountNullNetns unmounts the empty network namespace a current runsc pins in its state
// directory root for containers without network, as runsc's own UnmountNullNetNS does:
// concurrent creates may stack several mounts there.
func UnmountNullNetns(root string) {
	for unix.Unmount(filepath.Join(root, "null-netns"), unix.MNT_DETACH) == nil {
	}
}

// UnpinNullNetns unmounts root's null network namespace once binary lists no container
// there: it is shared by every container of that root, isobench's or not.
func UnpinNullNetns(ctx context.Context, binary, root string) error {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(lctx, binary, "--root", root, "list", "--quiet").Output()
	if err != nil {
		return fmt.Errorf("%s list: %w", binary, err)
	}
	if len(strings.TrimSpace(string(out))) > 0 {
		return nil
	}
	UnmountNullNetns(root)
	return nil
}

// Platforms are runsc's --platform values.
var Platforms = []string{"ptrace", "systrap", "kvm"}

// DefaultPlatform is the platform isobench runs runsc on unless a profile says otherwise:
// ptrace works in every VM, without KVM or seccomp trap support.
const DefaultPlatform = "ptrace"

// NetNone runs runsc with --network=none: containers get no network.
const NetNone = "none"

// Options are the profile options of every driver that runs runsc.
type Options struct {
	// Platform is runsc's --platform (default ptrace).
	Platform string `yaml:"platform"`
	// Network is gVisor's network mode: sandbox, host or none (default: what works here).
	Network string `yaml:"network"`
}

// Validate refuses a platform or network mode runsc does not have.
func (o Options) Validate() error {
	if err := strictyaml.OneOf(runtime.OptionPlatform, o.Platform, Platforms...); err != nil {
		return err
	}
	return strictyaml.OneOf(runtime.OptionNetwork, o.Network, NetSandbox, NetHost, NetNone)
}
