package density_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/bench/density"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/runtime"
	_ "github.com/isobench/isobench/internal/runtime/oci"
	"github.com/isobench/isobench/internal/testutil"
	"github.com/isobench/isobench/internal/testutil/testbin"
)

var ids atomic.Int64

type sample struct {
	metric string
	value  float64
	params map[string]string
}

func trial(t *testing.T, name string, settings bench.Settings) (*bench.Trial, *[]sample) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	img := imagetest.Busybox(t)
	d := benchtest.PreparedDriver(t, name, img)
	var got []sample
	raw := t.TempDir()
	return &bench.Trial{
		Driver: d, Image: img, Runtime: name, Index: 1, Quick: true, Settings: settings,
		RawDir: raw, RunDir: raw, Probe: testbin.Build(t), Logf: t.Logf,
		NewID: func() string { return fmt.Sprintf("%sdensity-%s-%d", runtime.NamePrefix, name, ids.Add(1)) },
		Emit:  func(m string, v float64, p map[string]string) { got = append(got, sample{m, v, p}) },
	}, &got
}

// TestDensityAttributesMemoryToEveryContainer runs small steps and checks that every
// container's processes were found and measured, and nothing is left.
func TestDensityAttributesMemoryToEveryContainer(t *testing.T) {
	for _, name := range []string{"runc", "crun", "runsc"} {
		t.Run(name, func(t *testing.T) {
			tr, got := trial(t, name, bench.Settings{"steps": []any{1, 3}, "settle": "200ms", "burst_n": 4, "burst_parallel": 2})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := (density.Density{}).Run(ctx, tr); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, s := range *got {
				seen[s.metric]++
				if math.IsNaN(s.value) || math.IsInf(s.value, 0) {
					t.Errorf("%s = %v", s.metric, s.value)
				}
				switch s.metric {
				case "pss_per_container":
					// An idle probe costs at least a few hundred KiB; no sandbox here costs 500 MiB.
					if s.value < 0.2 || s.value > 500 {
						t.Errorf("implausible PSS per container %.2f MiB at %v", s.value, s.params)
					}
				case "startup_under_load", "burst_startup", "burst_rate":
					if s.value <= 0 {
						t.Errorf("%s = %v", s.metric, s.value)
					}
				case "start_failures":
					if s.value != 0 {
						t.Errorf("%v containers failed to start at %v", s.value, s.params)
					}
				}
			}
			for _, m := range []string{"pss_per_container", "mem_available_per_container", "startup_under_load", "start_failures"} {
				if seen[m] != 2 {
					t.Errorf("%s: %d samples, want one per step", m, seen[m])
				}
			}
			if seen["burst_startup"] != 4 || seen["burst_rate"] != 1 {
				t.Errorf("burst samples: %v", seen)
			}
			// Every container of the n=3 step had its processes found and measured.
			var rec struct {
				Containers []struct {
					ID        string
					PSSBytes  uint64 `json:"pss_bytes"`
					Processes []struct{ Role string }
				}
			}
			data, err := os.ReadFile(filepath.Join(tr.RawDir, "step-n3.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &rec); err != nil {
				t.Fatal(err)
			}
			if len(rec.Containers) != 3 {
				t.Fatalf("raw record has %d containers, want 3", len(rec.Containers))
			}
			for _, c := range rec.Containers {
				if len(c.Processes) == 0 || c.PSSBytes == 0 {
					t.Errorf("container %s: no processes measured", c.ID)
				}
				if name == "runsc" {
					roles := map[string]bool{}
					for _, p := range c.Processes {
						roles[p.Role] = true
					}
					if !roles["sandbox"] || !roles["gofer"] {
						t.Errorf("runsc container %s: sandbox and gofer not both counted: %v", c.ID, roles)
					}
				}
			}
			assertNothingLeft(t, name)
		})
	}
}

// TestDensityCancelledMidStepCleansUp cancels while a step of 10 is starting.
func TestDensityCancelledMidStepCleansUp(t *testing.T) {
	tr, _ := trial(t, "runc", bench.Settings{"steps": []any{10}, "settle": "5s"})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := (density.Density{}).Run(ctx, tr); err == nil {
		t.Fatal("a cancelled step did not report it")
	}
	assertNothingLeft(t, "runc")
}

func TestMemoryBudgetStopsTheStep(t *testing.T) {
	tr, got := trial(t, "runc", bench.Settings{"steps": []any{5}, "settle": "100ms", "burst_n": 1, "burst_parallel": 1})
	tr.MemoryBudget = 1 // byte: the first container already exceeds it
	var logs []string
	tr.Logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	if err := (density.Density{}).Run(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "memory budget") {
		t.Errorf("the stop was not reported: %v", logs)
	}
	for _, s := range *got {
		if s.metric == "pss_per_container" && s.params["budget_reached"] != "true" {
			t.Errorf("sample not marked as cut short by the budget: %v", s.params)
		}
	}
	assertNothingLeft(t, "runc")
}

func assertNothingLeft(t *testing.T, rt string) {
	t.Helper()
	out, _ := exec.Command(rt, "list", "--quiet").Output()
	for _, id := range strings.Fields(string(out)) {
		if strings.HasPrefix(id, runtime.NamePrefix+"density-") {
			t.Errorf("%s still lists %s", rt, id)
		}
	}
	for _, m := range testutil.MountsUnder(t, "/") {
		if strings.Contains(m, runtime.NamePrefix+"density-") {
			t.Errorf("mount left: %s", m)
		}
	}
	if ns, _ := netsetup.Leftovers(runtime.NamePrefix + "density-"); len(ns) > 0 {
		t.Errorf("namespaces left: %v", ns)
	}
	if p, _ := exec.Command("pgrep", "-f", "probe sleep").Output(); len(strings.TrimSpace(string(p))) > 0 {
		t.Errorf("idle containers still running: %s", p)
	}
}
