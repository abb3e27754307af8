package stats

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Method names how a p-value was computed.
type Method string

const (
	// Exact is the complete permutation distribution of the statistic given the ties.
	Exact Method = "exact"
	// Permutation is a seeded Monte-Carlo sample of that distribution (PermutationResamples draws).
	Permutation Method = "permutation"
	// Normal is the normal approximation with tie and continuity correction, for samples
	// so large that the permutation distribution is normal to well below alpha.
	Normal Method = "normal"
)

const (
	// exactBudget bounds the work of an exact distribution (table cells times choices);
	// it keeps every exact test under a few tens of milliseconds.
	exactBudget = 10_000_000
	// PermutationResamples is the number of Monte-Carlo permutations; with it the
	// smallest two-sided p-value is about 1e-4.
	PermutationResamples = 20_000
	// permutationLimit is the largest pooled sample size tested by permutation; above
	// it the normal approximation is used.
	permutationLimit = 1000
)

// RankTest is the outcome of a rank test.
type RankTest struct {
	// Statistic is Mann-Whitney's U of the second sample (pairs where it is larger,
	// ties counting one half), or the signed-rank W+ of the differences.
	Statistic float64 `json:"statistic"`
	// P is the two-sided p-value: twice the smaller tail, at most 1 (as scipy computes it).
	P      float64 `json:"p"`
	Method Method  `json:"method"`
	// MinP is the smallest two-sided p-value this design can give at all (sample sizes
	// without ties): a comparison whose MinP, corrected for the number of comparisons,
	// is above alpha cannot detect anything however large the change.
	MinP float64 `json:"min_p"`
}

// midranks returns the doubled midranks (integers) of the pooled sorted values and the
// tie term sum(t^3 - t).
func doubledMidranks(sorted []float64) (ranks []int, tieTerm float64) {
	n := len(sorted)
	ranks = make([]int, n)
	for i := 0; i < n; {
		j := i
		for j < n && sorted[j] == sorted[i] {
			j++
		}
		for k := i; k < j; k++ {
			ranks[k] = i + 1 + j // 2 * (i+1 + j)/2
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	return ranks, tieTerm
}

// MannWhitneyTest is the two-sided Mann-Whitney U test of y against x (U counts the
// pairs where y is larger). The p-value is exact (the permutation distribution of U
// with the observed ties) when that is cheap, a seeded permutation test up to 1000
// values, and the normal approximation beyond. P is NaN when either sample is empty
// or holds NaN or infinity.
func MannWhitneyTest(x, y []float64) RankTest {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 || !allFinite(x) || !allFinite(y) {
		return RankTest{Statistic: math.NaN(), P: math.NaN(), MinP: math.NaN()}
	}
	type obs struct {
		v    float64
		from int // 0: x, 1: y
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, 0})
	}
	for _, v := range y {
		all = append(all, obs{v, 1})
	}
	slices.SortFunc(all, func(a, b obs) int { return cmpFloat(a.v, b.v) })
	sorted := make([]float64, len(all))
	for i, o := range all {
		sorted[i] = o.v
	}
	ranks, tieTerm := doubledMidranks(sorted)
	r2 := 0 // doubled rank sum of y
	for i, o := range all {
		if o.from == 1 {
			r2 += ranks[i]
		}
	}
	n := n1 + n2
	t := RankTest{Statistic: float64(r2)/2 - float64(n2*(n2+1))/2, MinP: MannWhitneyMinP(n1, n2)}
	// Tie groups in rank order: size and doubled midrank.
	var groups [][2]int
	for i := 0; i < n; {
		j := i
		for j < n && ranks[j] == ranks[i] {
			j++
		}
		groups = append(groups, [2]int{j - i, ranks[i]})
		i = j
	}
	switch {
	case exactCheap(n1, n2):
		// Choose the smaller sample's members; the statistic is its doubled rank sum.
		obsSum := r2
		if n1 < n2 {
			obsSum = n*(n+1) - r2
		}
		k := min(n1, n2)
		dist := rankSumDistribution(groups, k, 2*n*k)
		t.P, t.Method = twoSided(dist, obsSum), Exact
	case n <= permutationLimit:
		rng := rand.New(rand.NewPCG(Seed, uint64(n1)<<32|uint64(n2)))
		pool := slices.Clone(ranks)
		ge, le := 0, 0
		for range PermutationResamples {
			s := 0
			// A partial Fisher-Yates shuffle draws n2 ranks without replacement.
			for i := range n2 {
				j := i + rng.IntN(n-i)
				pool[i], pool[j] = pool[j], pool[i]
				s += pool[i]
			}
			if s >= r2 {
				ge++
			}
			if s <= r2 {
				le++
			}
		}
		r := float64(PermutationResamples + 1)
		t.P = math.Min(1, 2*math.Min(float64(ge+1)/r, float64(le+1)/r))
		t.Method = Permutation
	default:
		mu := float64(n1*n2) / 2
		fn := float64(n)
		sigma := math.Sqrt(float64(n1*n2) / 12 * ((fn + 1) - tieTerm/(fn*(fn-1))))
		t.Method = Normal
		if sigma == 0 {
			t.P = 1
			break
		}
		z := (math.Abs(t.Statistic-mu) - 0.5) / sigma
		t.P = math.Min(1, 2*distuv.UnitNormal.Survival(math.Max(z, 0)))
	}
	return t
}

// MannWhitney is MannWhitneyTest's U (of x: pairs where x is larger) and p-value.
func MannWhitney(x, y []float64) (u, p float64) {
	t := MannWhitneyTest(x, y)
	return float64(len(x)*len(y)) - t.Statistic, t.P
}

// rankSumDistribution counts, for every doubled rank sum s, the ways to choose k of
// the pooled values whose ranks sum to s/2: dist[s]. Tied values are chosen together
// as C(t, c) ways of taking c of a group of t.
func rankSumDistribution(groups [][2]int, k, maxSum int) []float64 {
	// f[c][s]: ways to choose c values with doubled rank sum s from the groups so far.
	f := make([][]float64, k+1)
	for c := range f {
		f[c] = make([]float64, maxSum+1)
	}
	f[0][0] = 1
	seen := 0
	for _, g := range groups {
		size, r := g[0], g[1]
		seen += size
		for c := min(k, seen); c >= 1; c-- {
			row := f[c]
			for take := 1; take <= min(size, c); take++ {
				ways := binom(size, take)
				from := f[c-take]
				shift := take * r
				for s := maxSum; s >= shift; s-- {
					if from[s-shift] != 0 {
						row[s] += ways * from[s-shift]
					}
				}
			}
		}
	}
	return f[k]
}

func binom(n, k int) float64 {
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
	return math.Round(math.Exp(lg(n) - lg(k) - lg(n-k)))
}

// twoSided is twice the smaller tail of dist at obs, at most 1.
func twoSided(dist []float64, obs int) float64 {
	var total, ge, le float64
	for s, c := range dist {
		total += c
		if s >= obs {
			ge += c
		}
		if s <= obs {
			le += c
		}
	}
	return math.Min(1, 2*math.Min(ge, le)/total)
}

// MannWhitneyMinP is the smallest two-sided p-value of the exact Mann-Whitney test
// with samples of n1 and n2 values and no ties: 2 / C(n1+n2, n1).
func MannWhitneyMinP(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return math.NaN()
	}
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
	p := 2 * math.Exp(-(lg(n1+n2) - lg(n1) - lg(n2)))
	if !exactCheap(n1, n2) && n1+n2 <= permutationLimit {
		p = math.Max(p, 2/float64(PermutationResamples+1))
	}
	return math.Min(1, p)
}

// exactCheap tells whether the exact distribution of U for these sample sizes fits the
// work budget (about 40 values per side).
func exactCheap(n1, n2 int) bool {
	n, k := n1+n2, min(n1, n2)
	return n*k*n*k <= exactBudget
}

// SignedRankMinP is the smallest two-sided p-value of the exact Wilcoxon signed-rank
// test of n non-zero differences: 2 / 2^n.
func SignedRankMinP(n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return math.Min(1, math.Pow(2, 1-float64(n)))
}

// TrialsForMinP is the smallest number of trials per side with which an exact
// Mann-Whitney test, corrected over m comparisons (Holm's first step), can reach a
// p-value below alpha; 0 when none up to 1000 can.
func TrialsForMinP(alpha float64, m int) int {
	for n := 1; n <= 1000; n++ {
		if float64(m)*MannWhitneyMinP(n, n) < alpha {
			return n
		}
	}
	return 0
}

// PairsForMinP is the smallest number of paired rounds with which an exact signed-rank
// test, corrected over m comparisons (Holm's first step), can reach a p-value below
// alpha; 0 when none up to 1000 can.
func PairsForMinP(alpha float64, m int) int {
	for n := 1; n <= 1000; n++ {
		if float64(m)*SignedRankMinP(n) < alpha {
			return n
		}
	}
	return 0
}

// SignedRankTest is the two-sided Wilcoxon signed-rank test of paired differences d
// (zeros dropped, as Wilcoxon did). Exact with the observed ties up to a few hundred
// pairs, normal approximation beyond. P is NaN without differences and 1 when every
// difference is zero.
func SignedRankTest(d []float64) RankTest {
	type obs struct {
		a   float64
		pos bool
	}
	var nz []obs
	for _, v := range d {
		if v != 0 {
			nz = append(nz, obs{math.Abs(v), v > 0})
		}
	}
	n := len(nz)
	if len(d) == 0 || !allFinite(d) {
		return RankTest{Statistic: math.NaN(), P: math.NaN(), MinP: math.NaN()}
	}
	if n == 0 {
		return RankTest{Statistic: 0, P: 1, Method: Exact, MinP: SignedRankMinP(len(d))}
	}
	slices.SortFunc(nz, func(a, b obs) int { return cmpFloat(a.a, b.a) })
	abs := make([]float64, n)
	for i, o := range nz {
		abs[i] = o.a
	}
	ranks, tieTerm := doubledMidranks(abs)
	w2 := 0
	for i, o := range nz {
		if o.pos {
			w2 += ranks[i]
		}
	}
	t := RankTest{Statistic: float64(w2) / 2, MinP: SignedRankMinP(len(d))}
	maxSum := n * (n + 1)
	if n*maxSum <= exactBudget {
		// f[s]: sign assignments whose positive doubled ranks sum to s.
		f := make([]float64, maxSum+1)
		f[0] = 1
		for _, r := range ranks {
			for s := maxSum; s >= r; s-- {
				f[s] += f[s-r]
			}
		}
		t.P, t.Method = twoSided(f, w2), Exact
		return t
	}
	fn := float64(n)
	mu := fn * (fn + 1) / 4
	sigma := math.Sqrt(fn*(fn+1)*(2*fn+1)/24 - tieTerm/48)
	t.Method = Normal
	if sigma == 0 {
		t.P = 1
		return t
	}
	z := (math.Abs(t.Statistic-mu) - 0.5) / sigma
	t.P = math.Min(1, 2*distuv.UnitNormal.Survival(math.Max(z, 0)))
	return t
}
