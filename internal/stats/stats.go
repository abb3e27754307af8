// Package stats computes the descriptive statistics, bootstrap intervals and tests
// isobench reports.
//
// Percentiles (and the median) use the definition numpy calls "linear" and R calls
// type 7: for sorted x of length n, the p-quantile is at position h=(n-1)p, linearly
// interpolated between x[floor(h)] and x[ceil(h)].
//
// A median's interval is the distribution-free order-statistic (binomial) interval with
// its actual coverage; a shift's is the interval that inverts the rank test it belongs
// to (Hodges-Lehmann with Mann-Whitney, or with the signed-rank test for pairs). Only
// ratios of medians use a percentile bootstrap, with a fixed seed, so a report computed
// twice from the same samples is the same report.
package stats

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

const (
	// Seed seeds every bootstrap, which makes reports reproducible.
	Seed = 1
	// Resamples is the number of bootstrap resamples.
	Resamples = 10000
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

// medianSampler draws the median of a bootstrap resample of sorted without building
// the resample. A resample's indices are floor(n*u) for n uniform u, so its k-th
// smallest index is floor(n*U(k)) with U(k) ~ Beta(k, n-k+1), and the next one is
// U(k) plus the minimum of the n-k uniforms above it. This is exactly the naive
// bootstrap's distribution at O(1) per resample instead of O(n), which is what lets
// a report over a million samples finish in seconds.
type medianSampler struct {
	sorted []float64
	rng    *rand.Rand
	kth    distuv.Beta
}

func newMedianSampler(sorted []float64, rng *rand.Rand) *medianSampler {
	n := len(sorted)
	k := (n + 1) / 2 // 1-based rank of the (lower) median
	return &medianSampler{sorted: sorted, rng: rng,
		kth: distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1), Src: rng}}
}

func (m *medianSampler) draw() float64 {
	n := len(m.sorted)
	uk := m.kth.Rand()
	lower := m.sorted[index(uk, n)]
	if n%2 == 1 {
		return lower
	}
	rest := float64(n - (n+1)/2)
	// Minimum of `rest` uniforms on (uk, 1), by inverting its distribution function.
	next := uk + (1-uk)*-math.Expm1(math.Log1p(-m.rng.Float64())/rest)
	return (lower + m.sorted[index(next, n)]) / 2
}

func index(u float64, n int) int {
	i := int(u * float64(n))
	return min(max(i, 0), n-1)
}

func newRNG() *rand.Rand { return rand.New(rand.NewPCG(Seed, Seed)) }

// RatioCI is the ratio median(num)/median(den) with its 95% bootstrap interval,
// num and den resampled independently. Both must be sorted ascending.
// The ratio is NaN when den's median is zero or either is empty.
func RatioCI(num, den []float64) (float64, Interval) {
	nan := math.NaN()
	if len(num) == 0 || len(den) == 0 {
		return nan, Interval{nan, nan}
	}
	ratio := RatioOfMedians(num, den)
	if math.IsNaN(ratio) {
		return nan, Interval{nan, nan}
	}
	rng := newRNG()
	sn, sd := newMedianSampler(num, rng), newMedianSampler(den, rng)
	ratios := make([]float64, 0, Resamples)
	for range Resamples {
		d := sd.draw()
		r := sn.draw() / d
		if d != 0 {
			ratios = append(ratios, r)
		}
	}
	return ratio, percentileInterval(ratios)
}

func percentileInterval(xs []float64) Interval {
	if len(xs) == 0 {
		return Interval{math.NaN(), math.NaN()}
	}
	slices.Sort(xs)
	alpha := (1 - Confidence) / 2
	return Interval{Quantile(xs, alpha), Quantile(xs, 1-alpha)}
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
