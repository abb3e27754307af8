package network_test

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/network"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/runtime"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
	"github.com/isobench/isobench/internal/testbin"
)

type sample struct {
	metric string
	value  float64
	params map[string]string
}

// wantStacks are the stacks each runtime may report; runsc uses the host kernel's stack
// in the container's namespace when this runsc cannot start its own.
var wantStacks = map[string][]string{
	"host":  {"host-loopback"},
	"runc":  {"linux-veth"},
	"crun":  {"linux-veth"},
	"runsc": {"gvisor-netstack", "host-kernel-via-runsc"},
}

func TestNetworkQuickUnderEachRuntime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, veth pairs and containers")
	}
	if testing.Short() {
		t.Skip("-short: runs containers for several seconds each")
	}
	img := imagetest.Default(t)
	probe := testbin.Build(t)
	before := serverProcesses(t)
	idPrefix := fmt.Sprintf("%snettest-%d-", runtime.NamePrefix, os.Getpid())
	metrics := map[string]bench.Metric{}
	for _, m := range (network.Benchmark{}).Metrics() {
		metrics[m.Name] = m
	}

	for _, name := range []string{"host", "runc", "crun", "runsc"} {
		t.Run(name, func(t *testing.T) {
			d := usableDriver(t, name)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := d.Prepare(ctx, img); err != nil {
				t.Fatalf("prepare: %v", err)
			}
			defer d.Close(context.Background())
			var samples []sample
			info := map[string]string{}
			var n atomic.Int64
			trial := &bench.Trial{
				Driver: d, Image: img, Runtime: name, Index: 1, Quick: true,
				Settings: bench.Settings{}, RawDir: t.TempDir(), Probe: probe,
				NewID: func() string { return idPrefix + name + "-" + strconv.FormatInt(n.Add(1), 10) },
				Emit: func(metric string, value float64, params map[string]string) {
					samples = append(samples, sample{metric, value, params})
				},
				Logf: t.Logf,
				Info: info,
			}
			start := time.Now()
			if err := (network.Benchmark{}).Run(ctx, trial); err != nil {
				logRaw(t, trial.RawDir)
				t.Fatalf("run: %v\nstderr: %s", err, bench.StderrOf(err))
			}
			t.Logf("trial took %s", time.Since(start).Round(time.Millisecond))

			got := map[string]int{}
			for _, s := range samples {
				m, ok := metrics[s.metric]
				if !ok {
					t.Errorf("unknown metric %q", s.metric)
					continue
				}
				if !slices.Contains(wantStacks[name], info[network.InfoStack]) {
					t.Errorf("%s: stack %q, want one of %q", s.metric, info[network.InfoStack], wantStacks[name])
				}
				dir := s.params[network.ParamDirection]
				got[s.metric+"/"+dir]++
				valid := s.value > 0 && !math.IsInf(s.value, 0)
				if s.metric == network.MetricRetransmits {
					valid = s.value >= 0 && s.value == math.Trunc(s.value)
				}
				if !valid {
					t.Errorf("%s %s = %v %s: not a valid value", s.metric, dir, s.value, m.Unit)
				}
				t.Logf("%-12s %-18s %12.3f %s", s.metric, dir, s.value, m.Unit)
			}
			for _, dir := range []string{network.DirectionHostToContainer, network.DirectionContainerToHost} {
				if got[network.MetricThroughput+"/"+dir] != 1 {
					t.Errorf("want one throughput sample for %s, got %d", dir, got[network.MetricThroughput+"/"+dir])
				}
			}
			for _, m := range []string{network.MetricLatencyP50, network.MetricLatencyP99} {
				if got[m+"/"+network.DirectionRoundTrip] != 1 {
					t.Errorf("want one %s sample, got %d", m, got[m+"/"+network.DirectionRoundTrip])
				}
			}
			// Gbit/s, not bit/s: even gVisor on ptrace moves more than 10 Mbit/s and
			// nothing here moves a terabit.
			for _, s := range samples {
				if s.metric == network.MetricThroughput && (s.value < 0.01 || s.value > 1000) {
					t.Errorf("throughput %v is not plausibly in Gbit/s", s.value)
				}
			}
			for _, f := range []string{"iperf3-host-to-container.json", "iperf3-container-to-host.json", "tcp-client.json", "container.stdout", "iperf3-server.log"} {
				if st, err := os.Stat(filepath.Join(trial.RawDir, f)); err != nil || st.Size() == 0 {
					t.Errorf("raw output %s not kept: %v", f, err)
				}
			}
			assertNothingLeft(t, idPrefix, before)
		})
	}
}

// TestNetworkBadSettings checks that a bad duration is refused before any container starts.
func TestNetworkBadSettings(t *testing.T) {
	trial := &bench.Trial{Settings: bench.Settings{network.SettingDuration: "1500ms"}, Quick: true}
	err := (network.Benchmark{}).Run(context.Background(), trial)
	if err == nil || !strings.Contains(err.Error(), network.SettingDuration) {
		t.Fatalf("want an error naming %s, got %v", network.SettingDuration, err)
	}
}

func TestFreeLoopbackPorts(t *testing.T) {
	ports, err := network.FreeLoopbackPorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("want 3 distinct ports, got %v", ports)
	}
	for _, p := range ports {
		if p < 20000 || p >= 30000 {
			t.Errorf("port %d outside 20000-29999", p)
		}
	}
}

// logRaw shows the raw outputs of a failed trial, which t.TempDir would remove.
func logRaw(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			t.Logf("raw %s:\n%s", e.Name(), tailString(string(data), 2000))
		}
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func usableDriver(t *testing.T, name string) runtime.Driver {
	t.Helper()
	for _, p := range runtime.Builtins() {
		if p.Name != name {
			continue
		}
		d, err := runtime.New(p, runtime.Env{Home: imagetest.Home(t), Subnet: netip.MustParsePrefix("198.18.0.0/15")})
		if err != nil {
			t.Fatal(err)
		}
		if st := d.Check(context.Background()); !st.Usable {
			t.Skipf("%s not usable here: %s (fix: %s)", name, st.Problem, st.Fix)
		}
		return d
	}
	t.Skipf("no built-in profile %s", name)
	return nil
}

// assertNothingLeft checks that the trial removed its namespace, its veth and its servers.
func assertNothingLeft(t *testing.T, idPrefix string, before map[int]bool) {
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
	for pid, name := range newServerProcesses(t, before) {
		t.Errorf("server process %d (%s) left running", pid, name)
	}
}

// ourServers are the command lines of the servers this benchmark starts, so that
// processes of other programs on the machine do not count.
var ourServers = []string{"iperf3 --server --forceflush", "iperf3 --client", "tcp-server --listen"}

// serverProcesses lists running processes that look like this benchmark's servers.
func serverProcesses(t *testing.T) map[int]bool {
	t.Helper()
	pids := map[int]bool{}
	for pid := range newServerProcesses(t, nil) {
		pids[pid] = true
	}
	return pids
}

// newServerProcesses finds servers that were not running before, and anything still
// running below the test process (the OCI driver makes it the subreaper of containers).
func newServerProcesses(t *testing.T, before map[int]bool) map[int]string {
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
		for _, s := range ourServers {
			if strings.Contains(cmdline, s) {
				found[pid] = cmdline
			}
		}
	}
	if before != nil {
		for _, pid := range runtime.Descendants(os.Getpid()) {
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
