package oci

import (
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime/gvisor"
)

// runscNet returns the network mode of this runsc driver, found once.
func (d *Driver) runscNet() (mode, why string) {
	d.netOnce.Do(func() {
		version := ""
		if bin, err := exec.LookPath(d.profile.Binary); err == nil {
			version = gvisor.Version(bin)
		}
		d.netMode, d.netWhy = gvisor.NetworkMode(d.opts.Network, version)
	})
	return d.netMode, d.netWhy
}

// reapRunscHelpers reaps runsc's helper processes (re-executions of runsc itself, named
// "exe") that outlived the runsc command that started them and were handed to isobench
// as subreaper. Nothing isobench starts itself is named "exe", so no one else's exit
// status is taken.
func reapRunscHelpers() {
	for _, pid := range procs.Descendants(os.Getpid()) {
		if st, err := procs.ReadStat(pid); err == nil && st.Comm == "exe" && st.State == "Z" {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil) // a zombie's exit status is nobody's
		}
	}
}
