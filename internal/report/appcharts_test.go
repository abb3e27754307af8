package report

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

func appRow(runtime, bench, metric string, params map[string]string, median float64) Row {
	s := stats.Summary{N: 6, Median: median}
	s.MedianCI.Lo, s.MedianCI.Hi, s.MedianCI.OK = median*0.9, median*1.1, true
	return Row{Host: "h", Runtime: runtime, Class: "container", Benchmark: bench, Metric: metric,
		Params: results.Params(params).String(), Unit: "ratio", Summary: s}
}

// TestInterferenceMatrixAndCPUCostCharts draws the matrices and the cost charts of a
// small analysis and checks what they hold.
func TestInterferenceMatrixAndCPUCostCharts(t *testing.T) {
	a := &Analysis{}
	for _, v := range []string{"host", "runc", "runsc"} {
		for i, ag := range []string{"host", "runc", "runsc"} {
			for _, victim := range []string{"cpu", "latency_p50", "latency_p99"} {
				a.Rows = append(a.Rows, appRow(v, "interference", "slowdown", map[string]string{
					"victim": victim, "aggressor": "cpu", "aggressor_runtime": ag, "count": "1", "placement": "separate"}, 1+0.3*float64(i)))
			}
		}
		// A runtime with a NaN median gets an empty cell, not a crash.
		a.Rows = append(a.Rows, appRow(v, "interference", "slowdown", map[string]string{
			"victim": "cpu", "aggressor": "fork", "aggressor_runtime": "runc", "count": "1", "placement": "separate"}, math.NaN()))
		for _, role := range []string{"total", "workload", "sandbox"} {
			a.Rows = append(a.Rows, appRow(v, "redis", "host_cpu_per_1k_requests", map[string]string{"pipeline": "1", "role": role}, 0.02))
		}
		a.Rows = append(a.Rows, appRow(v, "redis", "requests_per_second", map[string]string{"op": "get", "pipeline": "1"}, 12345))
	}
	used := map[string]int{}
	id := func(parts ...string) string {
		s := slug(strings.Join(parts, "_"))
		used[s]++
		if used[s] > 1 {
			s += "_" + strconv.Itoa(used[s])
		}
		return s
	}
	specs := a.appSpecs(id, func(string) string { return "" })
	var heat, cost int
	dir := t.TempDir()
	if d := os.Getenv("APPCHARTS_DIR"); d != "" {
		dir = d
	}
	for _, s := range specs {
		switch s.Kind {
		case ChartHeatMap:
			heat++
			if strings.Contains(s.Title, "latency_p50") || strings.Contains(s.Title, "p50") {
				t.Errorf("median latency drawn as a matrix: %s", s.Title)
			}
		case ChartCPUCost:
			cost++
		}
		c, err := renderChart(s, dir)
		if err != nil {
			t.Fatalf("%s: %v", s.ID, err)
		}
		svg := string(c.SVG)
		if s.Kind == ChartHeatMap && strings.Contains(s.Title, "cpu aggressors") && strings.Contains(s.Title, "CPU victim") {
			for _, want := range []string{"1.30x", "1.60x", "runsc"} {
				if !strings.Contains(svg, want) {
					t.Errorf("%s lacks %q", s.ID, want)
				}
			}
		}
		if s.Kind == ChartCPUCost && !strings.Contains(svg, "sandbox") {
			t.Errorf("%s has no sandbox role in its legend", s.ID)
		}
		if _, err := os.Stat(filepath.Join(dir, c.ID+".png")); err != nil {
			t.Errorf("no PNG for %s: %v", c.ID, err)
		}
	}
	// cpu and fork aggressors, victims cpu and latency_p99 (fork has cpu only); one cost chart.
	if heat != 3 || cost != 1 {
		t.Fatalf("%d matrices and %d cost charts, want 3 and 1", heat, cost)
	}
}
