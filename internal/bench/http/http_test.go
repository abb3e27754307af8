package http_test

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
	"github.com/isobench/isobench/internal/bench/http"
	"github.com/isobench/isobench/internal/httpload"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
	_ "github.com/isobench/isobench/internal/runtime/podman"
	_ "github.com/isobench/isobench/internal/runtime/qemu"
)

// engineRuntimes run here too: an engine's network must reach the host over its own
// bridge (podman with the CNI backend gave the host no address there).
var engineRuntimes = []string{"podman-runc"}

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
	before := ourServers.Running(t)
	idPrefix := fmt.Sprintf("%shttptest-%d-", runtime.NamePrefix, os.Getpid())
	metrics := map[string]bench.Metric{}
	for _, m := range (http.Benchmark{}).Metrics() {
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
				if info[bench.InfoStack] == "" {
					t.Errorf("%s: no stack recorded", s.metric)
				}
				file := s.params[httpload.ParamFile]
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
				for _, m := range []string{httpload.MetricRequestsPerSecond, httpload.MetricLatencyP50, httpload.MetricLatencyP90, httpload.MetricLatencyP99} {
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
				case httpload.MetricLatencyP50, httpload.MetricLatencyP90, httpload.MetricLatencyP99:
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
			// An engine's service (podman's) lives until the driver closes.
			closed = true
			if err := d.Close(context.Background()); err != nil {
				t.Errorf("close: %v", err)
			}
			benchtest.AssertNothingLeft(t, idPrefix, ourServers, before)
			leftSites, _ := filepath.Glob(filepath.Join(os.TempDir(), runtime.NamePrefix+"apache2-*"))
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
	trial := &bench.Trial{Settings: bench.Settings{httpload.SettingConcurrency: 0}, Quick: true}
	err := (http.Benchmark{}).Run(context.Background(), trial)
	if err == nil || !strings.Contains(err.Error(), httpload.SettingConcurrency) {
		t.Fatalf("want an error naming %s, got %v", httpload.SettingConcurrency, err)
	}
}

// ourServers are the command lines of the servers this benchmark starts, so that
// processes of other programs on the machine do not count.
var ourServers = benchtest.Servers{"apache2 -DFOREGROUND"}
