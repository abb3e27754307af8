package stats

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// rank_reference.json holds values computed independently (scipy's exhaustive
// permutation tests, arrangements enumerated in Python, scipy.stats.binom, and R's
// wilcox.test where marked) by testdata/gen_rank_reference.py from the inputs it holds.
type rankReference struct {
	Level       float64
	MannWhitney map[string]struct {
		X, Y        []float64
		U, P        float64
		ScipyExactP *float64 `json:"scipy_exact_p"`
	} `json:"mann_whitney"`
	HodgesLehmann map[string]struct {
		X, Y             []float64
		Estimate, Lo, Hi float64
		Coverage         float64
		OK               bool
		CheckedWithR     bool `json:"checked_with_r"`
	} `json:"hodges_lehmann"`
	SignedRank map[string]struct {
		D    []float64
		W, P float64
	} `json:"signed_rank"`
	PairedHodgesLehmann map[string]struct {
		D                []float64
		Estimate, Lo, Hi float64
		Coverage         float64
		OK               bool
	} `json:"paired_hodges_lehmann"`
	MedianIntervals map[string]struct {
		N        int
		OK       bool
		LoRank   int `json:"lo_rank"`
		HiRank   int `json:"hi_rank"`
		Coverage float64
	} `json:"median_intervals"`
}

func loadRankReference(t *testing.T) rankReference {
	t.Helper()
	b, err := os.ReadFile("testdata/rank_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref rankReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.MannWhitney) == 0 || len(ref.HodgesLehmann) == 0 || len(ref.SignedRank) == 0 ||
		len(ref.PairedHodgesLehmann) == 0 || len(ref.MedianIntervals) == 0 || ref.Level != Confidence {
		t.Fatal("rank_reference.json lacks cases or was made for another level")
	}
	return ref
}

func TestMannWhitneyExactWithTiesMatchesReference(t *testing.T) {
	for name, c := range loadRankReference(t).MannWhitney {
		got := MannWhitneyTest(c.X, c.Y)
		if got.Method != Exact {
			t.Errorf("%s: method %s, want exact", name, got.Method)
		}
		if got.Statistic != c.U || !near(got.P, c.P, 1e-9) {
			t.Errorf("%s: U=%g p=%.12g, want U=%g p=%.12g", name, got.Statistic, got.P, c.U, c.P)
		}
		if c.ScipyExactP != nil && !near(got.P, *c.ScipyExactP, 1e-9) {
			t.Errorf("%s: p=%.12g, scipy's exact mannwhitneyu %.12g", name, got.P, *c.ScipyExactP)
		}
		if got.P < got.MinP-1e-15 {
			t.Errorf("%s: p %g below the design's smallest p %g", name, got.P, got.MinP)
		}
	}
}

func TestWhyCasesAreNotSignificant(t *testing.T) {
	// A 10% change with every value tied at n=3 can never be significant at 5%: the
	// exact p is 0.1 whatever the timer's resolution.
	if p := MannWhitneyTest([]float64{100, 100, 100}, []float64{110, 110, 110}).P; !near(p, 0.1, 1e-12) {
		t.Errorf("[100]*3 vs [110]*3: p = %g, want 0.1", p)
	}
	if p := MannWhitneyMinP(3, 3); !near(p, 0.1, 1e-12) {
		t.Errorf("smallest p at n=3: %g, want 0.1", p)
	}
	// n=5 over 8 series: Holm's first step needs 8*p < 0.05, but p >= 2/252.
	if 8*MannWhitneyMinP(5, 5) < 0.05 {
		t.Error("n=5 over 8 series should be unable to reach significance")
	}
	if n := TrialsForMinP(0.05, 8); n != 6 {
		t.Errorf("trials per side for 8 series at 5%%: %d, want 6", n)
	}
}

func TestHodgesLehmannMatchesReference(t *testing.T) {
	ref := loadRankReference(t)
	checkedR := false
	for name, c := range ref.HodgesLehmann {
		got := HodgesLehmann(c.X, c.Y, ref.Level)
		checkedR = checkedR || c.CheckedWithR
		if got.Estimate != c.Estimate || got.CI.OK != c.OK || !near(got.CI.Coverage, c.Coverage, 1e-9) {
			t.Errorf("%s: %+v, want estimate %g ok %v coverage %g", name, got, c.Estimate, c.OK, c.Coverage)
			continue
		}
		if c.OK && (got.CI.Lo != c.Lo || got.CI.Hi != c.Hi) {
			t.Errorf("%s: interval [%g, %g], want [%g, %g]", name, got.CI.Lo, got.CI.Hi, c.Lo, c.Hi)
		}
		if !c.OK && !math.IsNaN(got.CI.Lo) {
			t.Errorf("%s: an interval below the level must not be a number, got %g", name, got.CI.Lo)
		}
	}
	if !checkedR {
		t.Log("no Hodges-Lehmann case was cross-checked with R when the fixture was made")
	}
}

func TestSignedRankMatchesReference(t *testing.T) {
	ref := loadRankReference(t)
	for name, c := range ref.SignedRank {
		got := SignedRankTest(c.D)
		if got.Statistic != c.W || !near(got.P, c.P, 1e-9) {
			t.Errorf("%s: W=%g p=%.12g, want W=%g p=%.12g", name, got.Statistic, got.P, c.W, c.P)
		}
	}
	for name, c := range ref.PairedHodgesLehmann {
		got := PairedHodgesLehmann(c.D, ref.Level)
		if got.Estimate != c.Estimate || got.CI.OK != c.OK || !near(got.CI.Coverage, c.Coverage, 1e-9) {
			t.Errorf("%s: %+v, want estimate %g ok %v coverage %g", name, got, c.Estimate, c.OK, c.Coverage)
			continue
		}
		if c.OK && (got.CI.Lo != c.Lo || got.CI.Hi != c.Hi) {
			t.Errorf("%s: interval [%g, %g], want [%g, %g]", name, got.CI.Lo, got.CI.Hi, c.Lo, c.Hi)
		}
	}
}

func TestMedianIntervalMatchesBinomial(t *testing.T) {
	ref := loadRankReference(t)
	for name, c := range ref.MedianIntervals {
		xs := make([]float64, c.N)
		for i := range xs {
			xs[i] = float64(i + 1) // x(k) = k, so the bounds are the ranks
		}
		iv, cov, ok := MedianInterval(xs, ref.Level)
		if ok != c.OK || !near(cov, c.Coverage, 1e-9) {
			t.Errorf("n=%s: ok=%v coverage=%.12g, want ok=%v coverage=%.12g", name, ok, cov, c.OK, c.Coverage)
			continue
		}
		if ok && (iv.Lo != float64(c.LoRank) || iv.Hi != float64(c.HiRank)) {
			t.Errorf("n=%s: [x(%g), x(%g)], want [x(%d), x(%d)]", name, iv.Lo, iv.Hi, c.LoRank, c.HiRank)
		}
		if !ok && !(math.IsNaN(iv.Lo) && math.IsNaN(iv.Hi)) {
			t.Errorf("n=%s: no interval reaches the level, yet bounds %v were given", name, iv)
		}
	}
	// Below n=6 there is no 95% interval; n=1 must never give a zero-width one.
	for n := 1; n <= 5; n++ {
		if _, _, ok := MedianInterval(make([]float64, n), 0.95); ok {
			t.Errorf("n=%d gave a 95%% median interval", n)
		}
	}
}

// TestMedianIntervalCoverageSimulated draws many samples from skewed and discrete
// distributions and checks that the interval covers the true median at least at its
// stated rate (less a Monte-Carlo margin of three standard errors).
func TestMedianIntervalCoverageSimulated(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	dists := map[string]struct {
		draw   func() float64
		median float64
	}{
		"exponential": {func() float64 { return rng.ExpFloat64() }, math.Ln2},
		"lognormal":   {func() float64 { return math.Exp(rng.NormFloat64()) }, 1},
		"uniform":     {func() float64 { return rng.Float64() }, 0.5},
	}
	const runs = 4000
	for name, d := range dists {
		for _, n := range []int{6, 9, 15, 40} {
			covered, stated := 0, 0.0
			for range runs {
				xs := make([]float64, n)
				for i := range xs {
					xs[i] = d.draw()
				}
				slices.Sort(xs)
				iv, cov, ok := MedianInterval(xs, 0.95)
				if !ok {
					t.Fatalf("%s n=%d: no interval", name, n)
				}
				stated = cov
				if iv.Lo <= d.median && d.median <= iv.Hi {
					covered++
				}
			}
			rate := float64(covered) / runs
			margin := 3 * math.Sqrt(stated*(1-stated)/runs)
			if rate < stated-margin {
				t.Errorf("%s n=%d: covered %.3f of runs, stated %.3f", name, n, rate, stated)
			}
		}
	}
}

func TestPermutationAgreesWithExactAndNormal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x, y := make([]float64, 60), make([]float64, 70)
	for i := range x {
		x[i] = math.Round(rng.NormFloat64() * 4)
	}
	for i := range y {
		y[i] = math.Round(rng.NormFloat64()*4 + 1.2)
	}
	perm := MannWhitneyTest(x, y)
	if perm.Method != Permutation {
		t.Fatalf("method %s, want permutation for 60+70 values", perm.Method)
	}
	// Normal approximation with tie correction is close at this size.
	mu := 60.0 * 70 / 2
	sorted := slices.Concat(x, y)
	slices.Sort(sorted)
	_, tieTerm := doubledMidranks(sorted)
	n := 130.0
	sigma := math.Sqrt(60 * 70 / 12.0 * ((n + 1) - tieTerm/(n*(n-1))))
	z := (math.Abs(perm.Statistic-mu) - 0.5) / sigma
	normal := 2 * (1 - 0.5*math.Erfc(-z/math.Sqrt2))
	se := math.Sqrt(normal * (1 - normal) / PermutationResamples)
	if math.Abs(perm.P-normal) > 4*se+0.005 {
		t.Errorf("permutation p %g, normal approximation %g", perm.P, normal)
	}
	if again := MannWhitneyTest(x, y); again.P != perm.P {
		t.Error("permutation p-value is not reproducible")
	}
}

func TestShiftOfConstantShiftIsExact(t *testing.T) {
	x := []float64{10, 11, 12, 13, 14, 15, 16, 17}
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] + 3
	}
	s := HodgesLehmann(x, y, 0.95)
	if s.Estimate != 3 || !(s.CI.Lo <= 3 && 3 <= s.CI.Hi) || !s.CI.OK {
		t.Errorf("shift %+v, want 3 inside its interval", s)
	}
	// Large samples use the normal approximation and bisection: still a real difference.
	big, bigger := make([]float64, 400), make([]float64, 300)
	for i := range big {
		big[i] = float64(i)
	}
	for i := range bigger {
		bigger[i] = float64(i) + 50.5
	}
	s = HodgesLehmann(big, bigger, 0.95)
	if !s.CI.OK || s.CI.Lo > s.Estimate || s.CI.Hi < s.Estimate || s.CI.Coverage < 0.95 {
		t.Errorf("large shift %+v", s)
	}
}

func TestIntervalsMarshalWithoutNaN(t *testing.T) {
	s := Summarize([]float64{1, 2, 3})
	b, err := json.Marshal(s.MedianCI)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `{"coverage":0.75,"hi":null,"lo":null,"ok":false}` {
		t.Errorf("n=3 median interval as JSON: %s", got)
	}
	s = Summarize([]float64{1, 2, 3, 4, 5, 6})
	if b, err = json.Marshal(s.MedianCI); err != nil || string(b) != `{"coverage":0.96875,"hi":6,"lo":1,"ok":true}` {
		t.Errorf("n=6 median interval as JSON: %s %v", b, err)
	}
	if r := RatioOfMedians([]float64{2, 4, 6}, []float64{1, 2, 3}); r != 2 {
		t.Errorf("ratio of medians %g", r)
	}
}

// The shift intervals cover the true shift at least at their stated coverage.
func TestShiftIntervalCoverageSimulated(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	const runs, shift = 3000, 2.5
	for _, n := range []int{6, 10, 25} {
		covered, pairedCovered := 0, 0
		var stated, pairedStated float64
		for range runs {
			x, y, d := make([]float64, n), make([]float64, n), make([]float64, n)
			for i := range x {
				x[i] = rng.ExpFloat64() * 4
				y[i] = rng.ExpFloat64()*4 + shift
				d[i] = rng.NormFloat64()*3 + shift // symmetric about the shift, as the signed-rank test assumes
			}
			s := HodgesLehmann(x, y, 0.95)
			p := PairedHodgesLehmann(d, 0.95)
			if !s.CI.OK || !p.CI.OK {
				t.Fatalf("n=%d: no interval", n)
			}
			stated, pairedStated = s.CI.Coverage, p.CI.Coverage
			if s.CI.Lo <= shift && shift <= s.CI.Hi {
				covered++
			}
			if p.CI.Lo <= shift && shift <= p.CI.Hi {
				pairedCovered++
			}
		}
		for _, c := range []struct {
			name     string
			hits     int
			coverage float64
		}{{"two-sample", covered, stated}, {"paired", pairedCovered, pairedStated}} {
			rate := float64(c.hits) / runs
			if margin := 3 * math.Sqrt(c.coverage*(1-c.coverage)/runs); rate < c.coverage-margin {
				t.Errorf("%s n=%d: covered %.3f of runs, stated %.3f", c.name, n, rate, c.coverage)
			}
		}
	}
}

func TestNonFiniteInputGivesNoAnswer(t *testing.T) {
	bad := []float64{1, math.NaN(), 3}
	good := []float64{1, 2, 3, 4, 5, 6}
	if p := MannWhitneyTest(good, bad).P; !math.IsNaN(p) {
		t.Errorf("Mann-Whitney with NaN: p = %g", p)
	}
	if p := SignedRankTest([]float64{1, math.Inf(1), 2}).P; !math.IsNaN(p) {
		t.Errorf("signed-rank with Inf: p = %g", p)
	}
	if s := HodgesLehmann(good, bad, 0.95); !math.IsNaN(s.Estimate) || s.CI.OK {
		t.Errorf("shift with NaN: %+v", s)
	}
	if s := PairedHodgesLehmann(bad, 0.95); !math.IsNaN(s.Estimate) || s.CI.OK {
		t.Errorf("paired shift with NaN: %+v", s)
	}
}
