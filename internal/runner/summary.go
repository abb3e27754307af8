package runner

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// summary keeps the values of this run in memory for the end-of-run table; the full
// report reads them back from samples.jsonl.
type summary struct {
	series   map[seriesKey][]float64
	units    map[seriesKey]string
	order    []seriesKey
	failures map[string]int // runtime/benchmark
}

type seriesKey struct {
	bench, metric, params, runtime string
}

func newSummary() *summary {
	return &summary{series: map[seriesKey][]float64{}, units: map[seriesKey]string{}, failures: map[string]int{}}
}

func paramString(p map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, ",")
}

func (s *summary) add(x results.Sample) {
	k := seriesKey{x.Benchmark, x.Metric, paramString(x.Params), x.Runtime}
	if _, ok := s.series[k]; !ok {
		s.order = append(s.order, k)
	}
	s.series[k] = append(s.series[k], x.Value)
	s.units[k] = x.Unit
}

func (s *summary) fail(runtime, bench string) { s.failures[runtime+"/"+bench]++ }

// print writes n, median, p95 and the ratio to the baseline for every series. Emulated
// runtimes are marked, since their numbers are not comparable.
func (s *summary) print(w io.Writer, baseline string, emulated map[string]bool) {
	if w == nil || len(s.order) == 0 && len(s.failures) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	hasBaseline := false
	for _, k := range s.order {
		hasBaseline = hasBaseline || k.runtime == baseline
	}
	if hasBaseline {
		fmt.Fprintf(w, "\nSummary (ratio = median / median of %s)\n", baseline)
	} else {
		fmt.Fprintf(w, "\nSummary (no ratios: the baseline %q is not in this run; choose one with --baseline)\n", baseline)
	}
	fmt.Fprintln(tw, "benchmark\tmetric\truntime\tn\tmedian\tp95\tunit\tratio\t")
	keys := slices.Clone(s.order)
	slices.SortStableFunc(keys, func(a, b seriesKey) int {
		return strings.Compare(a.bench+"\x00"+a.metric+"\x00"+a.params, b.bench+"\x00"+b.metric+"\x00"+b.params)
	})
	for _, k := range keys {
		sum := stats.Summarize(s.series[k])
		ratio := "-"
		if base, ok := s.series[seriesKey{k.bench, k.metric, k.params, baseline}]; ok && k.runtime != baseline {
			if bm := stats.Summarize(base).Median; bm != 0 {
				ratio = fmt.Sprintf("%.2fx", sum.Median/bm)
			}
		}
		metric := k.metric
		if k.params != "" {
			metric += " " + k.params
		}
		rt := k.runtime
		if emulated[rt] {
			rt += " (emulated, not comparable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", k.bench, metric, rt, sum.N,
			fmtValue(sum.Median), fmtValue(sum.P95), s.units[k], ratio)
	}
	tw.Flush()
	for _, k := range slices.Sorted(maps.Keys(s.failures)) {
		fmt.Fprintf(w, "failed trials: %s: %d\n", k, s.failures[k])
	}
}

func fmtValue(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
