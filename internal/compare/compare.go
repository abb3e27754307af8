// Package compare is the A/B comparison of two runs, or of two runtimes within one
// run: per metric the change of the median in %, its bootstrap interval and a
// Mann-Whitney p-value; changes that are not significant show as "~".
package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// ErrUnknownRuntime is a runtime asked for that the run did not measure.
var ErrUnknownRuntime = errors.New("unknown runtime")

// DefaultAlpha is the significance level.
const DefaultAlpha = 0.05

// Options tune a comparison.
type Options struct {
	// Alpha is the significance level; 0 means DefaultAlpha.
	Alpha float64
	// Threshold is the gate: a significant change in the worse direction larger than
	// it (0.05 is 5%) is a regression. 0 means no gate.
	Threshold float64
}

func (o Options) alpha() float64 {
	if o.Alpha > 0 {
		return o.Alpha
	}
	return DefaultAlpha
}

// Row is the comparison of one series.
type Row struct {
	Host      string
	Runtime   string
	Benchmark string
	Metric    string
	Params    string
	Unit      string
	Better    results.Better
	Old, New  stats.Summary
	// Change is median(new)/median(old) - 1; ChangeCI its 95% bootstrap interval.
	Change   float64
	ChangeCI stats.Interval
	// P is the two-sided Mann-Whitney p-value; PAdjusted is P after the Holm-Bonferroni
	// correction over every row of the comparison, which decides Significant.
	P           float64
	PAdjusted   float64
	Significant bool
	// Worse is a significant change in the metric's worse direction.
	Worse bool
	// Regression is Worse by more than Options.Threshold.
	Regression bool
}

// Result is a whole comparison.
type Result struct {
	OldName, NewName string
	Options          Options
	Rows             []Row
	Warnings         []string
}

// Regressions are the rows beyond the gate.
func (r *Result) Regressions() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Regression {
			out = append(out, row)
		}
	}
	return out
}

type matchKey struct{ host, runtime, benchmark, metric, params string }

// Runs compares every series of the run in newDir with the same series in oldDir.
// Series are matched by runtime, benchmark, metric and params, and by host too when
// either run holds several hosts (so one CI machine compares with itself across renames).
func Runs(ctx context.Context, oldDir, newDir string, opts Options) (*Result, error) {
	oldData, err := results.LoadDataset(ctx, []string{oldDir})
	if err != nil {
		return nil, err
	}
	newData, err := results.LoadDataset(ctx, []string{newDir})
	if err != nil {
		return nil, err
	}
	byHost := len(hostsOf(oldData)) > 1 || len(hostsOf(newData)) > 1
	key := func(k results.SeriesKey) matchKey {
		m := matchKey{runtime: k.Runtime, benchmark: k.Benchmark, metric: k.Metric, params: k.Params}
		if byHost {
			m.host = k.Host
		}
		return m
	}
	res := &Result{OldName: oldDir, NewName: newDir, Options: opts}
	res.Warnings = append(append(res.Warnings, oldData.Warnings...), newData.Warnings...)
	res.pair(oldData, newData, key, key)
	return res, nil
}

// Runtimes compares runtime b (new) against runtime a (old) within one run.
func Runtimes(ctx context.Context, dir, a, b string, opts Options) (*Result, error) {
	data, err := results.LoadDataset(ctx, []string{dir})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for k := range data.Series {
		seen[k.Runtime] = true
	}
	for _, rt := range []string{a, b} {
		if !seen[rt] {
			return nil, fmt.Errorf("%w: %s has no samples of runtime %q; it has %s", ErrUnknownRuntime, dir, rt, strings.Join(sortedSet(seen), ", "))
		}
	}
	only := func(rt string) func(results.SeriesKey) matchKey {
		return func(k results.SeriesKey) matchKey {
			if k.Runtime != rt {
				return matchKey{}
			}
			return matchKey{host: k.Host, runtime: a + " → " + b, benchmark: k.Benchmark, metric: k.Metric, params: k.Params}
		}
	}
	res := &Result{OldName: a, NewName: b, Options: opts, Warnings: data.Warnings}
	res.pair(data, data, only(a), only(b))
	return res, nil
}

// pair compares the series whose keys match; a zero key leaves a series out.
func (res *Result) pair(oldData, newData *results.Dataset, oldKey, newKey func(results.SeriesKey) matchKey) {
	olds := map[matchKey]*results.Series{}
	for k, s := range oldData.Series {
		if mk := oldKey(k); mk != (matchKey{}) {
			olds[mk] = s
		}
	}
	var missing []string
	matched := map[matchKey]bool{}
	for k, ns := range newData.Series {
		mk := newKey(k)
		if mk == (matchKey{}) {
			continue
		}
		oldSeries, ok := olds[mk]
		if !ok {
			missing = append(missing, describe(mk))
			continue
		}
		matched[mk] = true
		res.Rows = append(res.Rows, res.compareSeries(mk, oldSeries, ns))
	}
	for mk := range olds {
		if !matched[mk] {
			missing = append(missing, describe(mk))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d series are in only one side and were not compared: %s", len(missing), strings.Join(missing, ", ")))
	}
	sort.Slice(res.Rows, func(i, j int) bool {
		a, b := res.Rows[i], res.Rows[j]
		return strings.Join([]string{a.Host, a.Runtime, a.Benchmark, a.Metric, a.Params}, "\x00") <
			strings.Join([]string{b.Host, b.Runtime, b.Benchmark, b.Metric, b.Params}, "\x00")
	})
	res.decide()
}

func describe(k matchKey) string {
	s := k.runtime + " " + k.benchmark + "/" + k.metric
	if k.params != "" {
		s += "[" + k.params + "]"
	}
	if k.host != "" {
		s = k.host + ": " + s
	}
	return s
}

func (res *Result) compareSeries(k matchKey, old, cur *results.Series) Row {
	row := Row{Host: k.host, Runtime: k.runtime, Benchmark: k.benchmark, Metric: k.metric, Params: k.params,
		Unit: cur.Unit, Better: cur.Better, Old: stats.SummarizeSorted(old.Values), New: stats.SummarizeSorted(cur.Values)}
	ratio, ci := stats.RatioCI(cur.Values, old.Values)
	row.Change, row.ChangeCI = ratio-1, stats.Interval{Lo: ci.Lo - 1, Hi: ci.Hi - 1}
	_, row.P = stats.MannWhitney(old.Values, cur.Values)
	return row
}

// decide marks significant changes, correcting for the number of series compared.
func (res *Result) decide() {
	ps := make([]float64, len(res.Rows))
	for i, r := range res.Rows {
		ps[i] = r.P
	}
	for i, adj := range stats.Holm(ps) {
		row := &res.Rows[i]
		row.PAdjusted = adj
		row.Significant = adj < res.Options.alpha() && !math.IsNaN(row.Change)
		if row.Significant {
			row.Worse = (row.Better == results.Lower && row.Change > 0) || (row.Better == results.Higher && row.Change < 0)
			row.Regression = row.Worse && res.Options.Threshold > 0 && math.Abs(row.Change) > res.Options.Threshold
		}
	}
}

func hostsOf(d *results.Dataset) map[string]bool {
	h := map[string]bool{}
	for k := range d.Series {
		h[k.Host] = true
	}
	return h
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Table writes the comparison in the manner of benchstat: old and new median ± CI,
// the change with its interval (or "~"), the p-value and the sample counts.
func Table(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "old: %s\nnew: %s\n\n", res.OldName, res.NewName)
	fmt.Fprintf(tw, "series\tunit\told median ± CI\tnew median ± CI\tchange [95%% CI]\t\n")
	for _, r := range res.Rows {
		name := r.Runtime + " " + r.Benchmark + "/" + r.Metric
		if r.Params != "" {
			name += " [" + r.Params + "]"
		}
		if r.Host != "" {
			name = r.Host + ": " + name
		}
		change := "~"
		if r.Significant {
			change = fmt.Sprintf("%+.1f%% [%+.1f%%, %+.1f%%]", 100*r.Change, 100*r.ChangeCI.Lo, 100*r.ChangeCI.Hi)
		}
		mark := ""
		switch {
		case r.Regression:
			mark = "  REGRESSION"
		case r.Worse:
			mark = "  worse"
		case r.Significant:
			mark = "  better"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t(p=%.3f n=%d+%d)%s\n", name, r.Unit, withCI(r.Old), withCI(r.New), change, r.PAdjusted, r.Old.N, r.New.N, mark)
	}
	fmt.Fprintf(tw, "\n~: no significant change (Mann-Whitney p >= %.2f, Holm-corrected over %d series)", res.Options.alpha(), len(res.Rows))
	if res.Options.Threshold > 0 {
		fmt.Fprintf(tw, "; REGRESSION: significantly worse by more than %.3g%%", 100*res.Options.Threshold)
	}
	fmt.Fprintln(tw)
	for _, wn := range res.Warnings {
		fmt.Fprintln(tw, "warning: "+wn)
	}
	return tw.Flush()
}

func withCI(s stats.Summary) string {
	if !s.MedianCI.OK {
		return fmt.Sprintf("%.4g (%s)", s.Median, stats.TooSmall)
	}
	if s.Median == 0 {
		return fmt.Sprintf("%.4g", s.Median)
	}
	half := math.Max(s.Median-s.MedianCI.Lo, s.MedianCI.Hi-s.Median) / math.Abs(s.Median)
	return fmt.Sprintf("%.4g ± %.1f%%", s.Median, 100*half)
}
