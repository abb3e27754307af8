// Package changepoint finds the points where a sequence of measurements changed its
// distribution, by E-divisive with means (Matteson and James, "A Nonparametric Approach
// for Multiple Change Point Analysis of Multivariate Data", JASA 2014), the method
// MongoDB's performance CI uses (Daly et al., ICPE 2020).
//
// The divisive step splits a segment where the energy statistic
//
//	q(τ) = m·n/(m+n) · ( 2/(m·n) Σ|Xi−Yj| − 2/(m(m−1)) Σ_{i<k}|Xi−Xk| − 2/(n(n−1)) Σ_{j<l}|Yj−Yl| )
//
// between X = the segment before τ and Y = the rest of it is largest (α = 1, the
// exponent MongoDB uses; Y runs to the segment's end as in their implementation). A
// split is kept only when a permutation test says it is unlikely under "no change":
// the values of every current segment are shuffled within it, the largest q over all
// segments recomputed, and p = (#shuffles with q at least the observed + 1) /
// (shuffles + 1). The shuffles come from a seeded generator, so the answer is the same
// every time.
package changepoint

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Defaults of Options.
const (
	DefaultAlpha        = 0.005
	DefaultPermutations = 999
	DefaultMinSize      = 3
	DefaultSeed         = 1
)

// Options tune the search.
type Options struct {
	// Alpha is the significance level of the permutation test; 0 means DefaultAlpha.
	Alpha float64
	// Permutations is the number of shuffles per test; 0 means DefaultPermutations.
	Permutations int
	// MinSize is the fewest values a segment may hold; 0 means DefaultMinSize.
	MinSize int
	// Seed seeds the shuffles; 0 means DefaultSeed.
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.Alpha <= 0 {
		o.Alpha = DefaultAlpha
	}
	if o.Permutations <= 0 {
		o.Permutations = DefaultPermutations
	}
	if o.MinSize <= 0 {
		o.MinSize = DefaultMinSize
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	return o
}

// ChangePoint is an index i where values[i:] differ from values[:i] within its segment.
type ChangePoint struct {
	// Index is the first value after the change.
	Index int
	// Q is the energy statistic of the split.
	Q float64
	// P is the permutation test's p-value.
	P float64
}

// ErrNotFinite is a NaN or infinite value in the input.
var ErrNotFinite = errors.New("value is NaN or infinite")

// EDivisive returns the significant change points of values, in index order.
func EDivisive(values []float64, opts Options) ([]ChangePoint, error) {
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("change points: value %d: %w", i, ErrNotFinite)
		}
	}
	o := opts.withDefaults()
	if o.Alpha >= 1 {
		return nil, fmt.Errorf("change points: alpha %g is not a probability below 1", o.Alpha)
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	var found []ChangePoint
	bounds := []int{0, len(values)} // segment edges, sorted
	shuffled := make([]float64, len(values))
	for {
		best, ok := bestSplit(values, bounds, o.MinSize)
		if !ok {
			break
		}
		// Once more shuffles reached q than alpha allows, the split cannot be
		// significant whatever the rest give: the test stops there.
		atLeast, most := 0, int(o.Alpha*float64(o.Permutations+1))-1
		for range o.Permutations {
			if atLeast > most {
				break
			}
			copy(shuffled, values)
			for s := 0; s+1 < len(bounds); s++ {
				seg := shuffled[bounds[s]:bounds[s+1]]
				rng.Shuffle(len(seg), func(i, j int) { seg[i], seg[j] = seg[j], seg[i] })
			}
			if perm, ok := bestSplit(shuffled, bounds, o.MinSize); ok && perm.Q >= best.Q {
				atLeast++
			}
		}
		best.P = float64(atLeast+1) / float64(o.Permutations+1)
		if best.P > o.Alpha {
			break
		}
		found = append(found, best)
		bounds = append(bounds, best.Index)
		sort.Ints(bounds)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Index < found[j].Index })
	return found, nil
}

// bestSplit is the split of largest q over every segment between bounds.
func bestSplit(values []float64, bounds []int, minSize int) (ChangePoint, bool) {
	best, ok := ChangePoint{Q: math.Inf(-1)}, false
	for s := 0; s+1 < len(bounds); s++ {
		lo, hi := bounds[s], bounds[s+1]
		if tau, q, fits := splitSegment(values[lo:hi], minSize); fits && q > best.Q {
			best, ok = ChangePoint{Index: lo + tau, Q: q}, true
		}
	}
	return best, ok
}

// splitSegment finds the τ in [minSize, len-minSize] of largest q for one segment.
// With prefix sums of the distance matrix, every τ costs O(1) after O(n²) setup.
func splitSegment(seg []float64, minSize int) (tau int, q float64, ok bool) {
	n := len(seg)
	if n < 2*minSize || minSize < 1 {
		return 0, 0, false
	}
	// within[t] = Σ_{i<k<t} |x_i − x_k| (pairs inside the first t values);
	// tail[t] = Σ_{t<=j<l<n} |x_j − x_l| (pairs inside the values from t on);
	// rowTo[t] = Σ_{k<t} |x_t − x_k|, rowFrom[t] = Σ_{l>t} |x_t − x_l|.
	within := make([]float64, n+1)
	tail := make([]float64, n+1)
	rowTo := make([]float64, n)
	rowFrom := make([]float64, n)
	total := 0.0
	for i := range n {
		for k := range i {
			d := math.Abs(seg[i] - seg[k])
			rowTo[i] += d
			rowFrom[k] += d
			total += d
		}
	}
	for t := 1; t <= n; t++ {
		within[t] = within[t-1] + rowTo[t-1]
	}
	for t := n - 1; t >= 0; t-- {
		tail[t] = tail[t+1] + rowFrom[t]
	}
	q = math.Inf(-1)
	for t := minSize; t <= n-minSize; t++ {
		m, r := float64(t), float64(n-t)
		between := total - within[t] - tail[t]
		e := 2*between/(m*r) - withinMean(within[t], m) - withinMean(tail[t], r)
		if v := m * r / (m + r) * e; v > q {
			tau, q = t, v
		}
	}
	return tau, q, true
}

// withinMean is 2/(m(m−1)) · sum, the mean distance of the m(m−1)/2 pairs; 0 for one value.
func withinMean(sum, m float64) float64 {
	if m < 2 {
		return 0
	}
	return 2 * sum / (m * (m - 1))
}
