package http_test

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/http"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/runtime"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
)

type sample struct {
	metric string
	value  float64
	params map[string]string
}

func TestHTTPQuickUnderEachRuntime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, veth pairs and containers")
	}
	if testing.Short() {
		t.Skip("-short: runs containers for several seconds each")
	}
	img := imagetest.Default(t)
	before := serverProcesses(t)
	idPrefix := fmt.Sprintf("%shttptest-%d-", runtime.NamePrefix, os.Getpid())
	metrics := map[string]bench.Metric{}
	for _, m := range (http.Benchmark{}).Metrics() {
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
				Settings: bench.Settings{}, RawDir: t.TempDir(),
				NewID: func() string { return idPrefix + name + "-" + strconv.FormatInt(n.Add(1), 10) },
				Emit: func(metric string, value float64, params map[string]string) {
					samples = append(samples, sample{metric, value, params})
				},
				Logf: t.Logf,
				Info: info,
			}
			start := time.Now()
			if err := (http.Benchmark{}).Run(ctx, trial); err != nil {
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
				if info[http.InfoStack] == "" {
					t.Errorf("%s: no stack recorded", s.metric)
				}
				file := s.params[http.ParamFile]
				got[s.metric+"/"+file]++
				if !(s.value > 0) || math.IsInf(s.value, 0) {
					t.Errorf("%s %s = %v %s: not positive and finite", s.metric, file, s.value, m.Unit)
				}
				t.Logf("%-20s %-7s %10.3f %s", s.metric, file, s.value, m.Unit)
			}
			if got[http.MetricTimeToFirst200+"/"] != 1 {
				t.Errorf("want one %s sample, got %d", http.MetricTimeToFirst200, got[http.MetricTimeToFirst200+"/"])
			}
			for _, f := range http.Files {
				for _, m := range []string{http.MetricRequestsPerSecond, http.MetricLatencyP50, http.MetricLatencyP90, http.MetricLatencyP99} {
					if got[m+"/"+f.Label] != 1 {
						t.Errorf("want one %s sample for %s, got %d", m, f.Label, got[m+"/"+f.Label])
					}
				}
			}
			// Milliseconds, not seconds or nanoseconds: a start-up takes more than 0.1 ms and
			// less than a minute; a request under load less than 10 s.
			for _, s := range samples {
				switch s.metric {
				case http.MetricTimeToFirst200:
					if s.value < 0.1 || s.value > 60_000 {
						t.Errorf("time to first 200 %v is not plausibly in ms", s.value)
					}
				case http.MetricLatencyP50, http.MetricLatencyP90, http.MetricLatencyP99:
					if s.value > 10_000 {
						t.Errorf("%s %v is not plausibly in ms", s.metric, s.value)
					}
				}
			}
			for _, f := range []string{"vegeta-4KiB.json", "vegeta-100KiB.json"} {
				if st, err := os.Stat(filepath.Join(trial.RawDir, f)); err != nil || st.Size() == 0 {
					t.Errorf("raw output %s not kept: %v", f, err)
				}
			}
			assertNothingLeft(t, idPrefix, before)
			leftSites, _ := filepath.Glob(filepath.Join(os.TempDir(), runtime.NamePrefix+"http-*"))
			for _, d := range leftSites {
				t.Errorf("site directory left behind: %s", d)
			}
		})
	}
}

// TestContentIsFixed checks that every trial serves the same bytes of the promised size.
func TestContentIsFixed(t *testing.T) {
	for _, f := range http.Files {
		a, b := http.Content(f.Size), http.Content(f.Size)
		if len(a) != f.Size || string(a) != string(b) {
			t.Errorf("%s: %d bytes, same each time: %v", f.Name, len(a), string(a) == string(b))
		}
	}
}

func TestHTTPBadSettings(t *testing.T) {
	trial := &bench.Trial{Settings: bench.Settings{http.SettingConcurrency: 0}, Quick: true}
	err := (http.Benchmark{}).Run(context.Background(), trial)
	if err == nil || !strings.Contains(err.Error(), http.SettingConcurrency) {
		t.Fatalf("want an error naming %s, got %v", http.SettingConcurrency, err)
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
var ourServers = []string{"apache2 -DFOREGROUND"}

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
