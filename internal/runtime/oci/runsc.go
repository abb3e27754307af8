package oci

import (
	"os"
	"os/exec"
	"regexp"
	goruntime "runtime"
	"strconv"

	"github.com/vishvananda/netns"
)

// gVisor's network modes: its own user-space stack ("sandbox"), or the host kernel's
// stack inside the container's network namespace ("host").
const (
	runscNetSandbox = "sandbox"
	runscNetHost    = "host"
)

// fixedRootNSCheck is the first runsc release whose root-namespace check works on
// kernels that expose net.core.rmem_default in every namespace.
const fixedRootNSCheck = 20240801

var runscDate = regexp.MustCompile(`(\d{8})`)

// runscNetworkMode picks the network mode for a runsc profile. The option "network" wins;
// otherwise gVisor's own stack, unless this runsc is one that refuses every namespace as
// "root" on this kernel; then the host stack, with the reason recorded.
func runscNetworkMode(option, version string) (mode, why string) {
	if option != "" {
		return option, "set by the profile"
	}
	if m := runscDate.FindString(version); m != "" {
		if date, _ := strconv.Atoi(m); date < fixedRootNSCheck && rmemDefaultInNewNetns() {
			return runscNetHost, "runsc " + m + " takes every network namespace for the root one on this kernel, so gVisor's own stack cannot start; the host kernel's stack in the container's namespace serves instead (install runsc release-20240801 or later for gVisor's stack)"
		}
	}
	return runscNetSandbox, "gVisor's user-space network stack"
}

// rmemDefaultInNewNetns tells whether a fresh network namespace shows
// /proc/sys/net/core/rmem_default, which old runsc reads as "this is the root namespace".
func rmemDefaultInNewNetns() bool {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return false
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		return false
	}
	defer ns.Close()
	// /proc/sys/net shows the namespace of the thread that looks.
	_, statErr := os.Stat("/proc/sys/net/core/rmem_default")
	if err := netns.Set(orig); err != nil {
		goruntime.Goexit() // the thread is stuck in the new namespace; do not hand it back
	}
	return statErr == nil
}

// runscNet returns the network mode of this runsc driver, found once.
func (d *Driver) runscNet() (mode, why string) {
	d.netOnce.Do(func() {
		version := ""
		if bin, err := exec.LookPath(d.profile.Binary); err == nil {
			if out, err := exec.Command(bin, "--version").Output(); err == nil {
				version = firstLine(string(out))
			}
		}
		d.netMode, d.netWhy = runscNetworkMode(d.profile.Option("network", ""), version)
	})
	return d.netMode, d.netWhy
}

// runscStack names the stack that serves a runsc container's network.
func runscStack(mode string) string {
	if mode == runscNetHost {
		return "host-kernel-via-runsc"
	}
	return "gvisor-netstack"
}
