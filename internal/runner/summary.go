package runner

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// summary keeps the series of this run in memory for the end-of-run table; the full
// report reads them back from samples.jsonl. It uses the results layer's series model
// and the same statistics and words as compare and report.
type summary struct {
	series   map[results.SeriesKey]*results.Series
	order    []results.SeriesKey
	failures map[string]int // runtime/benchmark
}

func newSummary() *summary {
	return &summary{series: map[results.SeriesKey]*results.Series{}, failures: map[string]int{}}
}

func (s *summary) add(x results.Sample) {
	k := results.KeyOf(x)
	sr, ok := s.series[k]
	if !ok {
		sr = &results.Series{Key: k, Unit: x.Unit, Better: x.Better}
		s.series[k] = sr
		s.order = append(s.order, k)
	}
	sr.Add(x.Value, x.Trial)
}

func (s *summary) fail(runtime, bench string) { s.failures[runtime+"/"+bench]++ }

// print writes n, the median with its order-statistic interval, p95 and the ratio of
// medians to the baseline for every series. Emulated runtimes are marked, since their
// numbers are not comparable.
func (s *summary) print(w io.Writer, baseline string, emulated map[string]bool) {
	if w == nil || len(s.order) == 0 && len(s.failures) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	hasBaseline := false
	for _, k := range s.order {
		hasBaseline = hasBaseline || k.Runtime == baseline
	}
	if hasBaseline {
		fmt.Fprintf(w, "\nSummary (median with its 95%% order-statistic interval; ratio of medians to %s)\n", baseline)
	} else {
		fmt.Fprintf(w, "\nSummary (median with its 95%% order-statistic interval; no ratios: the baseline %q is not in this run; choose one with --baseline)\n", baseline)
	}
	fmt.Fprintln(tw, "benchmark\tmetric\truntime\tn\tmedian\t95% interval\tp95\tunit\tratio of medians\t")
	keys := slices.Clone(s.order)
	slices.SortStableFunc(keys, func(a, b results.SeriesKey) int {
		return strings.Compare(a.Benchmark+"\x00"+a.Metric+"\x00"+a.Params, b.Benchmark+"\x00"+b.Metric+"\x00"+b.Params)
	})
	for _, k := range keys {
		sr := s.series[k]
		sr.Sort()
		sum := stats.SummarizeSorted(sr.Values)
		ratio := "-"
		if base, ok := s.series[k.WithRuntime(baseline)]; ok && k.Runtime != baseline {
			base.Sort()
			if r := stats.RatioOfMedians(sr.Values, base.Values); !math.IsNaN(r) {
				ratio = fmt.Sprintf("%.2fx", r)
			}
		}
		interval := stats.TooSmall
		if ci := sum.MedianCI; ci.OK {
			interval = fmt.Sprintf("[%s, %s]", fmtValue(ci.Lo), fmtValue(ci.Hi))
		}
		metric := k.Metric
		if k.Params != "" {
			metric += " " + k.Params
		}
		rt := k.Runtime
		if emulated[rt] {
			rt += " (emulated, not comparable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", k.Benchmark, metric, rt, sum.N,
			fmtValue(sum.Median), interval, fmtValue(sum.P95), sr.Unit, ratio)
	}
	tw.Flush()
	for _, k := range slices.Sorted(maps.Keys(s.failures)) {
		fmt.Fprintf(w, "failed trials: %s: %d\n", k, s.failures[k])
	}
}

func fmtValue(v float64) string {
	switch a := max(v, -v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
