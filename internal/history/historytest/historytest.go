// Package historytest writes synthetic histories: many runs of the fixture, a day
// apart, with one step change in one series.
package historytest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/report/fixture"
)

// The step: StepRuntime's startup/total becomes StepFactor times slower.
const (
	StepRuntime = "runc"
	StepMetric  = "total"
	StepFactor  = 1.25
)

// RunID is the id of the i-th run (from 0).
func RunID(i int) string { return fmt.Sprintf("hist-%02d", i) }

// Start is when the i-th run started.
func Start(i int) time.Time {
	return time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC).Add(time.Duration(i) * 24 * time.Hour)
}

// StepHistory writes n runs into a temporary directory and returns their directories
// in order. From run stepAt on, StepRuntime's StepMetric is StepFactor times its
// earlier value; stepAt < 0 makes a flat history (noise only).
func StepHistory(t testing.TB, n, stepAt int) []string {
	t.Helper()
	root := t.TempDir()
	var dirs []string
	for i := range n {
		spec := fixture.Default("alpha", uint64(1000+i))
		spec.RunID, spec.Start = RunID(i), Start(i)
		if stepAt >= 0 && i >= stepAt {
			for j := range spec.Runtimes {
				if spec.Runtimes[j].Name == StepRuntime {
					spec.Runtimes[j].MetricFactors = map[string]float64{StepMetric: spec.Runtimes[j].Factor * StepFactor}
				}
			}
		}
		dir := filepath.Join(root, spec.RunID)
		if _, err := fixture.Write(dir, spec); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}
