// Package stats computes the descriptive statistics, bootstrap intervals and tests
// isobench reports.
//
// Percentiles (and the median) use the definition numpy calls "linear" and R calls
// type 7: for sorted x of length n, the p-quantile is at position h=(n-1)p, linearly
// interpolated between x[floor(h)] and x[ceil(h)].
//
// A median's interval is the distribution-free order-statistic (binomial) interval with
// its actual coverage; a shift's is the interval that inverts the rank test it belongs
// to (Hodges-Lehmann with Mann-Whitney, or with the signed-rank test for pairs), and a
// ratio's is that interval on the logarithms. Permutation tests use a fixed seed, so a
// report computed twice from the same samples is the same report.
package stats

import (
	"encoding/json"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
)

const (
	// Seed seeds every permutation test, which makes reports reproducible.
	Seed = 1
	// Confidence is the level of every interval.
	Confidence = 0.95
)

// Interval is a confidence interval.
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// MarshalJSON writes bounds that do not exist (NaN) as null: JSON has no NaN.
func (iv Interval) MarshalJSON() ([]byte, error) {
	bound := func(v float64) any {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return v
	}
	return json.Marshal(map[string]any{"lo": bound(iv.Lo), "hi": bound(iv.Hi)})
}

// RatioOfMedians is median(num) / median(den) of sorted samples; NaN when either is
// empty or den's median is zero. Named so everywhere, since it is not what the rank
// tests test.
func RatioOfMedians(num, den []float64) float64 {
	if len(num) == 0 || len(den) == 0 {
		return math.NaN()
	}
	d := Quantile(den, 0.5)
	if d == 0 {
		return math.NaN()
	}
	return Quantile(num, 0.5) / d
}

// Summary describes one series of samples.
type Summary struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	// StdDev is the sample standard deviation (n-1 denominator).
	StdDev float64 `json:"stddev"`
	// CV is the coefficient of variation, StdDev/Mean.
	CV  float64 `json:"cv"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	P5  float64 `json:"p5"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	// MedianCI is the distribution-free 95% interval of the median (see MedianInterval)
	// with its actual coverage; not OK below n = 6.
	MedianCI CoveredInterval `json:"median_ci"`
}

// Summarize describes xs; xs is not modified.
func Summarize(xs []float64) Summary {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	return SummarizeSorted(sorted)
}

// SummarizeSorted is Summarize for xs already sorted ascending (it saves a copy).
func SummarizeSorted(sorted []float64) Summary {
	n := len(sorted)
	if n == 0 {
		nan := math.NaN()
		return Summary{Mean: nan, Median: nan, StdDev: nan, CV: nan, Min: nan, Max: nan,
			P5: nan, P95: nan, P99: nan, MedianCI: noInterval(0)}
	}
	mean, sd := stat.MeanStdDev(sorted, nil)
	if n == 1 {
		sd = 0
	}
	s := Summary{
		N:      n,
		Mean:   mean,
		Median: Quantile(sorted, 0.5),
		StdDev: sd,
		CV:     sd / math.Abs(mean),
		Min:    sorted[0],
		Max:    sorted[n-1],
		P5:     Quantile(sorted, 0.05),
		P95:    Quantile(sorted, 0.95),
		P99:    Quantile(sorted, 0.99),
	}
	if mean == 0 {
		s.CV = math.NaN()
	}
	s.MedianCI = medianInterval(sorted, Confidence)
	return s
}

// Quantile is the p-quantile of sorted by the numpy "linear" (R type 7) definition.
func Quantile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	h := float64(n-1) * p
	lo := math.Floor(h)
	i := int(lo)
	if i >= n-1 {
		return sorted[n-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

// Noisy tells whether s varies more than cvThreshold (0.1 is 10%).
func Noisy(s Summary, cvThreshold float64) bool {
	return s.N > 1 && (math.IsNaN(s.CV) || s.CV > cvThreshold)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Holm adjusts p-values for testing many hypotheses at once (Holm-Bonferroni, as R's
// p.adjust(p, "holm")): comparing dozens of metrics at 5% would otherwise flag one
// in twenty by chance. NaN p-values stay NaN and do not count.
func Holm(ps []float64) []float64 {
	adj := make([]float64, len(ps))
	var idx []int
	for i, p := range ps {
		adj[i] = math.NaN()
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpFloat(ps[a], ps[b]) })
	m, running := len(idx), 0.0
	for rank, i := range idx {
		running = math.Max(running, math.Min(1, float64(m-rank)*ps[i]))
		adj[i] = running
	}
	return adj
}
