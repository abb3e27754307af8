package interference_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/bench/interference"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
)

var ids atomic.Int64

// TestCPUHogSlowsTheVictimOnlyOnItsOwnCPU runs, on each runtime, a CPU hog pinned to the
// victim's CPU and one pinned to the other CPU: the first must slow the CPU victim down,
// the second must not beyond noise. Three trials each; their medians are compared, as
// the other helpers' work on this machine adds noise to any single one.
func TestCPUHogSlowsTheVictimOnlyOnItsOwnCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs victims and aggressors in containers")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	img := imagetest.Default(t)
	probe := benchtest.Binary(t)
	settings := bench.Settings{
		"aggressors": []any{"cpu"}, "counts": []any{1}, "aggressor_runtimes": []any{"same"},
		"victim_cpus": "0", "placements": []any{"shared", "separate"},
		"victim_time": "1s", "round_trips": 500, "settle": "200ms",
	}
	for _, name := range []string{"host", "runc", "runsc"} {
		t.Run(name, func(t *testing.T) {
			d := benchtest.PreparedDriver(t, name, img)
			idPrefix := fmt.Sprintf("%sinterference-%d-", runtime.NamePrefix, os.Getpid())
			slowdown := map[string][]float64{}
			for trial := 1; trial <= 3; trial++ {
				got := runTrial(t, d, name, settings, probe, idPrefix)
				for _, s := range got {
					if s.Metric == interference.MetricSlowdown && s.Params[interference.ParamVictim] == interference.VictimCPU {
						pl := s.Params[interference.ParamPlacement]
						slowdown[pl] = append(slowdown[pl], s.Value)
					}
				}
			}
			shared, separate := median(slowdown["shared"]), median(slowdown["separate"])
			t.Logf("%s: CPU victim slowdown with the hog on its CPU %v (median %.2f), on the other CPU %v (median %.2f)",
				name, slowdown["shared"], shared, slowdown["separate"], separate)
			if !(shared > 1.3) {
				t.Errorf("%s: a CPU hog on the victim's own CPU slowed it by %.2f, want well above 1", name, shared)
			}
			if !(separate < 1.25) {
				t.Errorf("%s: a CPU hog on the other CPU slowed the victim by %.2f, want about 1", name, separate)
			}
		})
	}
}

func runTrial(t *testing.T, d runtime.Driver, name string, settings bench.Settings, probe, idPrefix string) []benchtest.Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	raw := filepath.Join(t.TempDir(), "raw")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		t.Fatal(err)
	}
	var got []benchtest.Sample
	tr := &bench.Trial{
		Driver: d, Runtime: name, Index: 1, Quick: true, Settings: settings,
		RawDir: raw, RunDir: filepath.Dir(raw), Probe: probe,
		NewID: func() string { return fmt.Sprintf("%s%d", idPrefix, ids.Add(1)) },
		Peers: map[string]runtime.Driver{name: d},
		Info:  map[string]string{},
		Emit: func(metric string, v float64, params map[string]string) {
			got = append(got, benchtest.Sample{Metric: metric, Value: v, Params: params})
		},
		Logf: t.Logf,
	}
	if err := (interference.Benchmark{}).Run(ctx, tr); err != nil {
		benchtest.LogRaw(t, raw)
		t.Fatalf("interference on %s: %v\nstderr: %s", name, err, bench.StderrOf(err))
	}
	benchtest.CheckSamples(t, interference.Benchmark{}, got)
	benchtest.AssertNothingLeft(t, idPrefix, nil, nil)
	if tr.Info[interference.InfoVictimCPUs] != "0" || tr.Info[interference.InfoPlacementPrefix+"shared"] != "0" {
		t.Errorf("CPU sets not recorded: %v", tr.Info)
	}
	return got
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestCancelledTrialLeavesNoAggressor cancels a trial (as SIGINT does) while its
// aggressors run, and checks that every aggressor and its host-side server are gone.
func TestCancelledTrialLeavesNoAggressor(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs victims and aggressors in containers")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	img := imagetest.Default(t)
	probe := benchtest.Binary(t)
	for _, name := range []string{"runc", "runsc"} {
		t.Run(name, func(t *testing.T) {
			d := benchtest.PreparedDriver(t, name, img)
			idPrefix := fmt.Sprintf("%sinterference-cancel-%d-", runtime.NamePrefix, os.Getpid())
			raw := t.TempDir()
			tr := &bench.Trial{
				Driver: d, Runtime: name, Index: 1, Quick: true, RawDir: raw, RunDir: raw, Probe: probe,
				Settings: bench.Settings{"aggressors": []any{"network", "cpu"}, "counts": []any{2}, "aggressor_runtimes": []any{"same"},
					"victim_time": "5s", "settle": "2s"},
				NewID: func() string { return fmt.Sprintf("%s%d", idPrefix, ids.Add(1)) },
				Peers: map[string]runtime.Driver{name: d},
				Info:  map[string]string{},
				Emit:  func(string, float64, map[string]string) { t.Error("a cancelled trial emitted a sample") },
				Logf:  t.Logf,
			}
			ctx, cancel := context.WithCancel(context.Background())
			// The victims alone take about 6 s; the network aggressors then start.
			timer := time.AfterFunc(8*time.Second, cancel)
			defer timer.Stop()
			err := (interference.Benchmark{}).Run(ctx, tr)
			if err == nil {
				t.Fatal("a cancelled trial succeeded")
			}
			t.Logf("cancelled: %v", err)
			benchtest.AssertNothingLeft(t, idPrefix, nil, nil)
			if out, _ := exec.Command("pgrep", "-f", "iperf3 --server --bind").Output(); len(out) > 0 {
				t.Errorf("iperf3 servers left on the host: %s", out)
			}
		})
	}
}
