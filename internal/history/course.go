package history

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/changepoint"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// ByTime puts every run at its start time. Any other "by" is a label: the runs that
// share its value are pooled into one point.
const ByTime = "time"

// Labels every run has, recorded by `isobench run`; others come from `history add --label`.
var builtinLabels = map[string]string{
	"commit":          "the isobench commit that made the run",
	"isobench":        "the isobench version that made the run",
	"kernel":          "the host kernel",
	"runtime-version": "the version of each series' runtime",
}

// BuiltinLabels names the labels every run has, with what they hold.
func BuiltinLabels() map[string]string { return builtinLabels }

// labelOf is the run's value of label by for point p; "" when it has none.
func labelOf(r RunInfo, p Point, by string) string {
	switch by {
	case ByTime:
		return r.ID
	case "commit":
		return r.IsobenchCommit
	case "isobench":
		return r.IsobenchVersion
	case "kernel":
		return r.Kernel
	case "runtime-version":
		return p.RuntimeVersion
	}
	return r.Labels[by]
}

// Course is one series over the runs; its Title names the metric without the runtime.
type Course struct {
	results.SeriesKey
	Class    string
	Emulated bool
	Unit     string
	Better   results.Better
	Points   []CoursePoint
	Changes  []Change
}

// CoursePoint is the series in one run, or in every run that shares a label value.
type CoursePoint struct {
	// Label is the run id (by time) or the label value.
	Label string
	// Time is the start of the point's first run.
	Time   time.Time
	Runs   []RunInfo
	N      int
	Median float64
	// MedianCI is the distribution-free 95% interval of the median; not OK below n = 6.
	MedianCI stats.CoveredInterval
}

// Change is a change point: Points[Index] is the first point after it.
type Change struct {
	Index int
	// Before and After are the medians of the point medians of the segments on either side.
	Before, After float64
	// Ratio is After/Before.
	Ratio float64
	P     float64
	// BeforeRun and AfterRun are the runs on either side, for `isobench compare`.
	BeforeRun, AfterRun RunInfo
}

// Worse tells whether the change goes in the metric's worse direction.
func (c Change) Worse(better results.Better) bool {
	if better == results.Higher {
		return c.Ratio < 1
	}
	return c.Ratio > 1
}

// Courses arranges the points of the stored runs into courses ordered by time or by a
// label, and finds each course's change points. Runs without the label are left out of
// that course and counted in the returned notes.
func Courses(runs []RunInfo, points []Point, by string, opts changepoint.Options) ([]Course, []string, error) {
	byID := make(map[string]RunInfo, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
	}
	type bucket struct {
		label  string
		runs   []RunInfo
		values []float64
	}
	courses := map[results.SeriesKey]*Course{}
	buckets := map[results.SeriesKey]map[string]*bucket{}
	unlabelled := map[string]bool{}
	for _, p := range points {
		r, ok := byID[p.RunID]
		if !ok {
			return nil, nil, fmt.Errorf("a series of run %s, which the history does not list", p.RunID)
		}
		k := p.SeriesKey
		c := courses[k]
		if c == nil {
			c = &Course{SeriesKey: k, Class: p.Class, Emulated: p.Emulated, Unit: p.Unit, Better: p.Better}
			courses[k] = c
			buckets[k] = map[string]*bucket{}
		}
		if c.Unit != p.Unit || c.Better != p.Better {
			return nil, nil, fmt.Errorf("%s %s changes its unit or direction between runs (%q %s in run %s, %q %s before)",
				p.Runtime, c.Title(), p.Unit, p.Better, p.RunID, c.Unit, c.Better)
		}
		c.Emulated = c.Emulated || p.Emulated
		label := labelOf(r, p, by)
		if label == "" {
			unlabelled[r.ID] = true
			continue
		}
		b := buckets[k][label]
		if b == nil {
			b = &bucket{label: label}
			buckets[k][label] = b
		}
		b.runs = append(b.runs, r)
		b.values = append(b.values, p.Values...)
	}
	var out []Course
	for k, c := range courses {
		for _, b := range buckets[k] {
			sort.Slice(b.runs, func(i, j int) bool { return runLess(b.runs[i], b.runs[j]) })
			slices.Sort(b.values)
			c.Points = append(c.Points, CoursePoint{Label: b.label, Time: b.runs[0].Started, Runs: b.runs, N: len(b.values),
				Median: stats.Quantile(b.values, 0.5), MedianCI: medianInterval(b.values)})
		}
		sort.Slice(c.Points, func(i, j int) bool { return runLess(c.Points[i].Runs[0], c.Points[j].Runs[0]) })
		if len(c.Points) == 0 {
			continue
		}
		if err := c.findChanges(opts); err != nil {
			return nil, nil, err
		}
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Course) int { return compareByMetric(a.SeriesKey, b.SeriesKey) })
	var notes []string
	if len(unlabelled) > 0 && by != ByTime {
		ids := slices.Sorted(maps.Keys(unlabelled))
		notes = append(notes, fmt.Sprintf("%d run(s) have no %q label and are left out where they lack it: %s", len(ids), by, strings.Join(ids, ", ")))
	}
	return out, notes, nil
}

func runLess(a, b RunInfo) bool {
	if !a.Started.Equal(b.Started) {
		return a.Started.Before(b.Started)
	}
	return a.ID < b.ID
}

func (c *Course) findChanges(opts changepoint.Options) error {
	medians := make([]float64, len(c.Points))
	for i, p := range c.Points {
		medians[i] = p.Median
	}
	cps, err := changepoint.EDivisive(medians, opts)
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.Runtime, c.Title(), err)
	}
	edges := []int{0}
	for _, cp := range cps {
		edges = append(edges, cp.Index)
	}
	edges = append(edges, len(medians))
	for i, cp := range cps {
		before := segmentMedian(medians[edges[i]:edges[i+1]])
		after := segmentMedian(medians[edges[i+1]:edges[i+2]])
		prev, next := c.Points[cp.Index-1], c.Points[cp.Index]
		ch := Change{Index: cp.Index, Before: before, After: after, P: cp.P,
			BeforeRun: prev.Runs[len(prev.Runs)-1], AfterRun: next.Runs[0]}
		ch.Ratio = after / before
		c.Changes = append(c.Changes, ch)
	}
	return nil
}

func segmentMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return stats.Quantile(s, 0.5)
}

func medianInterval(sorted []float64) stats.CoveredInterval {
	iv, coverage, ok := stats.MedianInterval(sorted, stats.Confidence)
	return stats.CoveredInterval{Interval: iv, Coverage: coverage, OK: ok}
}
