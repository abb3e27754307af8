package runner

import (
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/results"
)

func TestSummaryUsesTheSeriesModelAndSaysWhenNIsTooSmall(t *testing.T) {
	s := newSummary()
	for i, v := range []float64{10, 11, 12} {
		s.add(results.Sample{Runtime: "host", Benchmark: "startup", Metric: "total", Unit: "ms", Better: results.Lower, Value: v, Trial: i + 1})
		s.add(results.Sample{Runtime: "runc", Benchmark: "startup", Metric: "total", Unit: "ms", Better: results.Lower, Value: 2 * v, Trial: i + 1,
			Params: map[string]string{"trial": "x"}})
	}
	for i := range 8 {
		s.add(results.Sample{Runtime: "runc", Benchmark: "cpu", Metric: "events", Unit: "1/s", Better: results.Higher, Value: float64(100 + i), Trial: i + 1,
			Params: map[string]string{"threads": "1,2"}})
	}
	s.fail("runc", "startup")
	var b strings.Builder
	s.print(&b, "host", map[string]bool{})
	out := b.String()
	for _, want := range []string{"ratio of medians", "2.00x", "n too small", `threads=1\,2`, "[100.0, 107.0]", "failed trials: runc/startup: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
