package benchtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

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
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("listing processes: %v", err)
	}
	found := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || before[pid] || pid == os.Getpid() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := strings.Join(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), " ")
		for _, server := range s {
			if strings.Contains(cmdline, server) {
				found[pid] = cmdline
			}
		}
	}
	if before != nil {
		for _, pid := range procs.Descendants(os.Getpid()) {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// "pid (comm) state ...": an exited child nobody reaped yet is the driver's
			// bookkeeping, not a server left running.
			if _, after, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(after, "Z") {
				t.Logf("unreaped exited process: %s", strings.Fields(string(stat))[:3])
				continue
			}
			if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
				found[pid] = strings.ReplaceAll(string(raw), "\x00", " ")
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
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatalf("listing mounts: %v", err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, "/"+idPrefix) {
			t.Errorf("mount left behind: %s", line)
		}
	}
	for pid, cmdline := range servers.startedSince(t, before) {
		t.Errorf("server process %d (%s) left running", pid, cmdline)
	}
	// A VMM names its VM after the container (qemu -name, firecracker --id), a runtime's
	// sandbox carries the id in its arguments: none may outlive the trial.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if raw, err := os.ReadFile(p); err == nil && strings.Contains(string(raw), idPrefix) {
			t.Errorf("process %s left running: %s", filepath.Base(filepath.Dir(p)), strings.ReplaceAll(string(raw), "\x00", " "))
		}
	}
}
