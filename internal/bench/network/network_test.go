package network_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/bench/network"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
	_ "github.com/isobench/isobench/internal/runtime/podman"
	_ "github.com/isobench/isobench/internal/runtime/qemu"
	"github.com/isobench/isobench/internal/testutil/testbin"
)

// engineRuntimes run here too: an engine's network must reach the host over its own
// bridge (podman with the CNI backend gave the host no address there).
var engineRuntimes = []string{"podman-runc"}

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
	// Under TCG where KVM refuses ordinary guests: slow, but a real VM behind a tap.
	"qemu-microvm": {"virtio-net-tap"},
	"podman-runc":  {"podman-bridge"},
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
	before := ourServers.Running(t)
	idPrefix := fmt.Sprintf("%snettest-%d-", runtime.NamePrefix, os.Getpid())
	metrics := map[string]bench.Metric{}
	for _, m := range (network.Benchmark{}).Metrics() {
		metrics[m.Name] = m
	}

	for _, name := range slices.Concat(benchtest.Runtimes, engineRuntimes) {
		t.Run(name, func(t *testing.T) {
			d := benchtest.UsableDriver(t, name)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := d.Prepare(ctx, img); err != nil {
				t.Fatalf("prepare: %v", err)
			}
			closed := false
			defer func() {
				if !closed {
					_ = d.Close(context.Background())
				}
			}()
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
				benchtest.LogRaw(t, trial.RawDir)
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
				if !slices.Contains(wantStacks[name], info[bench.InfoStack]) {
					t.Errorf("%s: stack %q, want one of %q", s.metric, info[bench.InfoStack], wantStacks[name])
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
			// An engine's service (podman's) lives until the driver closes.
			closed = true
			if err := d.Close(context.Background()); err != nil {
				t.Errorf("close: %v", err)
			}
			benchtest.AssertNothingLeft(t, idPrefix, ourServers, before)
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
	ports, err := bench.FreeLoopbackPorts(3)
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

// ourServers are the command lines of the servers this benchmark starts, so that
// processes of other programs on the machine do not count.
var ourServers = benchtest.Servers{"iperf3 --server --forceflush", "iperf3 --client", "tcp-server --listen"}
