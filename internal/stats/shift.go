package stats

import (
	"encoding/json"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"
)

// CoveredInterval is a distribution-free interval with the coverage it actually has.
// Rank-based intervals can only take a few coverages at small n; Coverage is the one
// reached (at least the level asked for when OK). When no interval reaches the level
// (n too small), OK is false and Lo and Hi are NaN: there is no number to show.
type CoveredInterval struct {
	Interval
	Coverage float64 `json:"coverage"`
	OK       bool    `json:"ok"`
}

// MarshalJSON writes the bounds (null when there are none), the coverage and ok; it
// is needed because the embedded Interval's would drop the last two.
func (c CoveredInterval) MarshalJSON() ([]byte, error) {
	bounds, err := c.Interval.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(bounds, &m); err != nil {
		return nil, err
	}
	m["coverage"], m["ok"] = c.Coverage, c.OK
	return json.Marshal(m)
}

// TooSmall is what to show instead of an interval that does not exist at the level.
const TooSmall = "n too small"

func noInterval(coverage float64) CoveredInterval {
	return CoveredInterval{Interval: Interval{math.NaN(), math.NaN()}, Coverage: coverage}
}

// MedianInterval is the distribution-free interval of the median of sorted (ascending):
// the order statistics [x(l), x(n+1-l)] with the largest l whose binomial coverage
// P(l <= B <= n-l), B ~ Bin(n, 1/2), is at least level. It exists from n = 6 at 95%.
// When it does not, ok is false, iv is NaN and coverage is that of [min, max], the
// widest interval there is.
func MedianInterval(sorted []float64, level float64) (iv Interval, coverage float64, ok bool) {
	c := medianInterval(sorted, level)
	return c.Interval, c.Coverage, c.OK
}

func medianInterval(sorted []float64, level float64) CoveredInterval {
	n := len(sorted)
	if n == 0 || !(level > 0 && level < 1) {
		return noInterval(0)
	}
	b := distuv.Binomial{N: float64(n), P: 0.5}
	// cover(l) is the coverage of [x(l), x(n+1-l)], 1-based.
	cover := func(l int) float64 {
		if l == 1 {
			return 1 - 2*math.Exp2(-float64(n))
		}
		return 1 - 2*b.CDF(float64(l-1))
	}
	const slack = 1e-12
	if cover(1) < level-slack {
		return noInterval(cover(1))
	}
	// cover decreases with l; find the largest l in [1, (n+1)/2] that reaches level.
	lo, hi := 1, (n+1)/2
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if cover(mid) >= level-slack {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return CoveredInterval{Interval: Interval{sorted[lo-1], sorted[n-lo]}, Coverage: cover(lo), OK: true}
}

// Shift is a location shift (new minus old) with the interval that inverts the rank
// test it belongs to.
type Shift struct {
	// Estimate is the Hodges-Lehmann estimate: the median of all differences new - old
	// (two samples) or of the Walsh averages of the paired differences.
	Estimate float64         `json:"estimate"`
	CI       CoveredInterval `json:"ci"`
}

// HodgesLehmann is the shift of y against x: the median of the m*n differences y_j - x_i,
// with the interval [D(k), D(mn+1-k)] that inverts the Mann-Whitney test (the same
// order statistics R's wilcox.test(y, x, conf.int = TRUE) takes; exact distribution
// up to m*n = 2500, normal approximation beyond).
func HodgesLehmann(x, y []float64, level float64) Shift {
	m, n := len(x), len(y)
	if m == 0 || n == 0 || !allFinite(x) || !allFinite(y) {
		return Shift{Estimate: math.NaN(), CI: noInterval(0)}
	}
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	total := m * n
	count := func(t float64) int { // differences y_j - x_i <= t
		c, i := 0, 0
		// For ascending y_j the differences rise; the x_i that keep y_j - x_i <= t are
		// a suffix of xs starting at i, and i only moves right.
		for _, yv := range ys {
			for i < m && yv-xs[i] > t {
				i++
			}
			c += m - i
		}
		return c
	}
	kth := func(k int) float64 { return kthSmallest(k, ys[0]-xs[m-1], ys[n-1]-xs[0], count) }
	s := Shift{Estimate: medianOfK(total, kth)}
	q, cov := rankCritical(mannWhitneyCDF(m, n), level, func() (float64, float64) {
		return float64(total) / 2, math.Sqrt(float64(total) * float64(m+n+1) / 12)
	})
	s.CI = criticalInterval(q, cov, total, kth)
	return s
}

// RatioInterval is the interval of the ratio num/den under a scale model (num = c*den):
// the Hodges-Lehmann interval of the logarithms, exponentiated, so it inverts the same
// Mann-Whitney test as a shift does. It exists only for positive values and when the
// samples are large enough for the level (else OK is false and the bounds are NaN).
func RatioInterval(num, den []float64, level float64) CoveredInterval {
	logs := func(xs []float64) []float64 {
		out := make([]float64, len(xs))
		for i, v := range xs {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil
			}
			out[i] = math.Log(v)
		}
		return out
	}
	ln, ld := logs(num), logs(den)
	if len(ln) == 0 || len(ld) == 0 {
		return noInterval(0)
	}
	ci := HodgesLehmann(ld, ln, level).CI
	if ci.OK {
		ci.Lo, ci.Hi = math.Exp(ci.Lo), math.Exp(ci.Hi)
	}
	return ci
}

// PairedHodgesLehmann is the shift of paired differences d: the median of the Walsh
// averages (d_i + d_j)/2, i <= j, with the interval that inverts the signed-rank test
// (as R's wilcox.test(d, conf.int = TRUE); exact up to 200 pairs, normal beyond).
func PairedHodgesLehmann(d []float64, level float64) Shift {
	n := len(d)
	if n == 0 || !allFinite(d) {
		return Shift{Estimate: math.NaN(), CI: noInterval(0)}
	}
	ds := slices.Clone(d)
	slices.Sort(ds)
	total := n * (n + 1) / 2
	count := func(t float64) int { // Walsh averages <= t
		c, j := 0, n-1
		for i := 0; i < n; i++ {
			for j >= i && (ds[i]+ds[j])/2 > t {
				j--
			}
			if j < i {
				break
			}
			c += j - i + 1
		}
		return c
	}
	kth := func(k int) float64 { return kthSmallest(k, ds[0], ds[n-1], count) }
	s := Shift{Estimate: medianOfK(total, kth)}
	q, cov := rankCritical(signedRankCDF(n), level, func() (float64, float64) {
		fn := float64(n)
		return fn * (fn + 1) / 4, math.Sqrt(fn * (fn + 1) * (2*fn + 1) / 24)
	})
	s.CI = criticalInterval(q, cov, total, kth)
	return s
}

// allFinite tells whether xs holds no NaN or infinity: the shifts are undefined then.
func allFinite(xs []float64) bool {
	for _, v := range xs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func medianOfK(total int, kth func(int) float64) float64 {
	if total%2 == 1 {
		return kth((total + 1) / 2)
	}
	return (kth(total/2) + kth(total/2+1)) / 2
}

// rankCritical is R's qu: the smallest q with P(W <= q) >= (1-level)/2, where W is the
// statistic with null distribution cdf (nil: normal with the moments given), and the
// coverage 1 - 2 P(W <= q-1) of the interval it gives.
func rankCritical(cdf []float64, level float64, moments func() (mu, sigma float64)) (int, float64) {
	half := (1 - level) / 2
	// q = 0 means no interval reaches the level; the coverage is then that of the
	// widest interval, [D(1), D(total)], as for q = 1.
	if cdf != nil {
		q := 0
		for q < len(cdf)-1 && cdf[q] < half {
			q++
		}
		return q, 1 - 2*cdf[max(q, 1)-1]
	}
	mu, sigma := moments()
	q := max(int(math.Floor(mu-distuv.UnitNormal.Quantile(1-half)*sigma)), 0)
	return q, 1 - 2*distuv.UnitNormal.CDF((float64(max(q, 1)-1)+0.5-mu)/sigma)
}

// criticalInterval is [kth(q), kth(total+1-q)] when q >= 1, else no interval.
func criticalInterval(q int, coverage float64, total int, kth func(int) float64) CoveredInterval {
	if q < 1 {
		return noInterval(coverage)
	}
	return CoveredInterval{Interval: Interval{kth(q), kth(total + 1 - q)}, Coverage: coverage, OK: true}
}

// kthSmallest is the k-th smallest (1-based) of values in [lo, hi] whose number at or
// below t is count(t): the smallest float64 t with count(t) >= k, found by bisection
// over the ordered bit patterns, so it is one of the values exactly.
func kthSmallest(k int, lo, hi float64, count func(float64) int) float64 {
	a, b := orderedBits(lo), orderedBits(hi)
	for a < b {
		mid := a + (b-a)/2
		if count(fromOrderedBits(mid)) >= k {
			b = mid
		} else {
			a = mid + 1
		}
	}
	return fromOrderedBits(a)
}

// orderedBits maps float64 to uint64 so that the order of floats is the order of ints.
func orderedBits(f float64) uint64 {
	u := math.Float64bits(f)
	if u>>63 == 1 {
		return ^u
	}
	return u | 1<<63
}

func fromOrderedBits(u uint64) float64 {
	if u>>63 == 1 {
		return math.Float64frombits(u &^ (1 << 63))
	}
	return math.Float64frombits(^u)
}

// cdfCache keeps the null distributions already computed: a report asks for the same
// sample sizes in every series. Its slices are never modified.
var cdfCache sync.Map // [3]int{kind, m, n} -> []float64

func cached(kind, m, n int, compute func() []float64) []float64 {
	key := [3]int{kind, m, n}
	if v, ok := cdfCache.Load(key); ok {
		return v.([]float64)
	}
	v := compute()
	cdfCache.Store(key, v)
	return v
}

// mannWhitneyCDF is P(U <= u) for u = 0..m*n without ties, or nil when the table
// would be too large (m*n > 2500).
func mannWhitneyCDF(m, n int) []float64 {
	if m*n > 2500 {
		return nil
	}
	return cached(0, m, n, func() []float64 { return computeMannWhitneyCDF(m, n) })
}

func computeMannWhitneyCDF(m, n int) []float64 {
	maxU := m * n
	// counts[j][s] for the current i: arrangements of i x's and j y's with U = s,
	// by the recurrence on which sample holds the largest value.
	prev := make([][]float64, n+1)
	cur := make([][]float64, n+1)
	for j := range prev {
		prev[j] = make([]float64, maxU+1)
		cur[j] = make([]float64, maxU+1)
		prev[j][0] = 1
	}
	for i := 1; i <= m; i++ {
		for j := 0; j <= n; j++ {
			clear(cur[j])
			for s := 0; s <= i*j; s++ {
				var c float64
				if s >= j {
					c = prev[j][s-j]
				}
				if j > 0 {
					c += cur[j-1][s]
				}
				cur[j][s] = c
			}
		}
		prev, cur = cur, prev
	}
	return cumulative(prev[n])
}

// signedRankCDF is P(W+ <= w) for w = 0..n(n+1)/2 without ties, or nil above 200 pairs.
func signedRankCDF(n int) []float64 {
	if n > 200 {
		return nil
	}
	return cached(1, n, 0, func() []float64 { return computeSignedRankCDF(n) })
}

func computeSignedRankCDF(n int) []float64 {
	maxW := n * (n + 1) / 2
	f := make([]float64, maxW+1)
	f[0] = 1
	for r := 1; r <= n; r++ {
		for s := maxW; s >= r; s-- {
			f[s] += f[s-r]
		}
	}
	return cumulative(f)
}

func cumulative(counts []float64) []float64 {
	var total float64
	for _, c := range counts {
		total += c
	}
	out := make([]float64, len(counts))
	run := 0.0
	for i, c := range counts {
		run += c
		out[i] = run / total
	}
	return out
}
