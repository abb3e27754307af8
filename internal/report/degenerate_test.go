package report

import (
	"context"
	"testing"

	"github.com/isobench/isobench/internal/report/fixture"
	"github.com/isobench/isobench/internal/results"
)

// Degenerate data a run may well hold must give a report, not a goroutine dump: every
// runtime exactly as fast as the baseline (every ratio 1, a log axis of zero range), and
// a constant series so large that adding a margin does not change it.
func TestDegenerateDataGivesAReport(t *testing.T) {
	for name, base := range map[string]float64{"ratios all 1": 5, "constant 1e16": 1e16, "constant 1e300": 1e300, "constant tiny": 1e-300} {
		t.Run(name, func(t *testing.T) {
			spec := fixture.Spec{
				Host: "alpha", RunID: "degenerate", Baseline: "host", Trials: 5, Seed: 1,
				Runtimes: []fixture.Runtime{
					{Name: "host", Class: "process", Factor: 1},
					{Name: "runc", Class: "container", Factor: 1},
				},
				Metrics: []fixture.Metric{
					{Benchmark: "startup", Name: "total", Unit: "ms", Better: results.Lower, Base: base, Spread: 0, Distribution: true, Headline: true},
					{Benchmark: "cpu", Name: "events_per_sec", Unit: "events/s", Better: results.Higher, Base: base, Spread: 0},
				},
			}
			run := writeFixture(t, spec)
			if _, err := Write(context.Background(), []string{run}, t.TempDir(), Options{}); err != nil {
				t.Fatalf("report: %v", err)
			}
		})
	}
}
