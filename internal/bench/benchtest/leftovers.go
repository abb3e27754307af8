package benchtest

import (
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/isobench/isobench/internal/mounts"
	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/procs"
)

// Servers are command-line fragments of the server processes a benchmark starts, so that
// processes of other programs on the machine do not count as left behind.
type Servers []string

// Running lists running processes that look like these servers; take it before a trial
// and pass it to AssertNothingLeft.
func (s Servers) Running(t testing.TB) map[int]bool {
	t.Helper()
	pids := map[int]bool{}
	for pid := range s.startedSince(t, nil) {
		pids[pid] = true
	}
	return pids
}

// startedSince finds servers that were not running before, and, when before is not nil,
// anything still running below the test process (the OCI driver makes it the subreaper
// of containers).
func (s Servers) startedSince(t testing.TB, before map[int]bool) map[int]string {
	t.Helper()
	pids, err := procs.All()
	if err != nil {
		t.Fatal(err)
	}
	found := map[int]string{}
	for _, pid := range pids {
		if before[pid] || pid == os.Getpid() {
			continue
		}
		cmdline := strings.Join(procs.Cmdline(pid), " ")
		for _, server := range s {
			if strings.Contains(cmdline, server) {
				found[pid] = cmdline
			}
		}
	}
	if before != nil {
		for _, pid := range procs.Descendants(os.Getpid()) {
			st, err := procs.ReadStat(pid)
			if err != nil {
				continue
			}
			// An exited child nobody reaped yet is the driver's bookkeeping, not a server
			// left running.
			if st.State == "Z" {
				t.Logf("unreaped exited process: %d (%s) %s", pid, st.Comm, st.State)
				continue
			}
			if args := procs.Cmdline(pid); args != nil {
				found[pid] = strings.Join(args, " ")
			}
		}
	}
	return found
}

// AssertNothingLeft checks that a trial whose container ids start with idPrefix removed
// its namespace, its veth, its mounts and its servers (those not in before, from
// servers.Running).
func AssertNothingLeft(t testing.TB, idPrefix string, servers Servers, before map[int]bool) {
	t.Helper()
	namespaces, _ := netsetup.Leftovers(idPrefix)
	if len(namespaces) > 0 {
		t.Errorf("network namespaces left behind: %v", namespaces)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("listing links: %v", err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, idPrefix) {
			t.Errorf("link %s (for %s) left behind", l.Attrs().Name, l.Attrs().Alias)
		}
	}
	all, err := mounts.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if strings.Contains(m.Mountpoint, "/"+idPrefix) || strings.Contains(m.Source, "/"+idPrefix) || strings.Contains(m.VFSOptions, "/"+idPrefix) {
			t.Errorf("mount left behind: %s on %s (%s)", m.Source, m.Mountpoint, m.VFSOptions)
		}
	}
	for pid, cmdline := range servers.startedSince(t, before) {
		t.Errorf("server process %d (%s) left running", pid, cmdline)
	}
	// A VMM names its VM after the container (qemu -name, firecracker --id), a runtime's
	// sandbox carries the id in its arguments: none may outlive the trial.
	pids, err := procs.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if cmdline := strings.Join(procs.Cmdline(pid), " "); strings.Contains(cmdline, idPrefix) {
			t.Errorf("process %d left running: %s", pid, cmdline)
		}
	}
}
