package stats

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// reference.json holds values computed independently with numpy and scipy by
// testdata/gen_reference.py from the inputs it also holds.
type reference struct {
	Summaries map[string]struct {
		Input                          []float64
		N                              int
		Mean, Median, Stddev, Min, Max float64
		P5, P95, P99                   float64
	}
	MannWhitney map[string]struct {
		X, Y   []float64
		Method string
		U, P   float64
	} `json:"mann_whitney"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Summaries) == 0 || len(ref.MannWhitney) == 0 {
		t.Fatal("reference.json holds no cases")
	}
	return ref
}

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
}

func TestSummarizeMatchesNumpy(t *testing.T) {
	for name, want := range loadReference(t).Summaries {
		t.Run(name, func(t *testing.T) {
			input := slices.Clone(want.Input)
			got := Summarize(want.Input)
			if !slices.Equal(input, want.Input) {
				t.Fatal("Summarize modified its input")
			}
			checks := []struct {
				name      string
				got, want float64
			}{
				{"mean", got.Mean, want.Mean}, {"median", got.Median, want.Median},
				{"stddev", got.StdDev, want.Stddev}, {"min", got.Min, want.Min},
				{"max", got.Max, want.Max}, {"p5", got.P5, want.P5},
				{"p95", got.P95, want.P95}, {"p99", got.P99, want.P99},
			}
			if got.N != want.N {
				t.Errorf("n = %d, want %d", got.N, want.N)
			}
			for _, c := range checks {
				if !near(c.got, c.want, 1e-12) {
					t.Errorf("%s = %.15g, want %.15g", c.name, c.got, c.want)
				}
			}
			if want.Stddev > 0 && !near(got.CV, want.Stddev/want.Mean, 1e-12) {
				t.Errorf("cv = %g, want %g", got.CV, want.Stddev/want.Mean)
			}
			if got.MedianCI.Lo > got.Median || got.MedianCI.Hi < got.Median {
				t.Errorf("median %g outside its interval %+v", got.Median, got.MedianCI)
			}
		})
	}
}

func TestSummarizeIsReproducible(t *testing.T) {
	xs := []float64{5, 3, 8, 1, 9, 2, 7, 4, 6, 10, 11, 3.5}
	a, b := Summarize(xs), Summarize(xs)
	if a != b {
		t.Fatalf("two summaries of the same input differ: %+v vs %+v", a, b)
	}
}

func TestRatioInterval(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := make([]float64, 200)
	slow := make([]float64, 200)
	for i := range base {
		base[i] = 100 + rng.NormFloat64()*3
		slow[i] = 150 + rng.NormFloat64()*3
	}
	ci := RatioInterval(slow, base, Confidence)
	r := RatioOfMedians(slices.Sorted(slices.Values(slow)), slices.Sorted(slices.Values(base)))
	if !ci.OK || !(ci.Lo < r && r < ci.Hi) || ci.Lo < 1.45 || ci.Hi > 1.55 || ci.Coverage < Confidence {
		t.Fatalf("ratio %g interval %+v, want a narrow interval around 1.5", r, ci)
	}
	// A constant factor is recovered exactly, and the interval holds it.
	x := []float64{10, 11, 12, 13, 14, 15, 16, 17}
	y := make([]float64, len(x))
	for i := range x {
		y[i] = 2 * x[i]
	}
	if ci := RatioInterval(y, x, Confidence); !ci.OK || ci.Lo > 2 || ci.Hi < 2 {
		t.Errorf("doubled values: %+v", ci)
	}
	for name, c := range map[string]CoveredInterval{
		"n=3":        RatioInterval([]float64{1, 2, 3}, []float64{1, 2, 3}, Confidence),
		"zero value": RatioInterval(y, []float64{0, 1, 2, 3, 4, 5, 6, 7}, Confidence),
		"empty":      RatioInterval(nil, x, Confidence),
	} {
		if c.OK || !math.IsNaN(c.Lo) {
			t.Errorf("%s: %+v, want no interval", name, c)
		}
	}
}

// The asymptotic cases of reference.json are now tested exactly (rank_test.go).
func TestMannWhitneyMatchesScipy(t *testing.T) {
	for name, c := range loadReference(t).MannWhitney {
		if c.Method != "exact" {
			continue
		}
		u, p := MannWhitney(c.X, c.Y)
		if u != c.U {
			t.Errorf("%s: U = %g, want %g", name, u, c.U)
		}
		if !near(p, c.P, 1e-9) {
			t.Errorf("%s (%s): p = %.12g, want %.12g", name, c.Method, p, c.P)
		}
	}
}

func TestQuantileEdges(t *testing.T) {
	s := []float64{1, 2, 3, 4}
	for p, want := range map[float64]float64{0: 1, 1: 4, 0.5: 2.5, 1.0 / 3: 2} {
		if got := Quantile(s, p); !near(got, want, 1e-12) {
			t.Errorf("Quantile(%g) = %g, want %g", p, got, want)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("quantile of nothing is not NaN")
	}
}

// Expected values from R: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.5), "holm").
func TestHolmMatchesR(t *testing.T) {
	got := Holm([]float64{0.01, 0.04, 0.03, 0.005, 0.5, math.NaN()})
	want := []float64{0.04, 0.09, 0.09, 0.025, 0.5}
	for i, w := range want {
		if !near(got[i], w, 1e-12) {
			t.Errorf("Holm[%d] = %g, want %g", i, got[i], w)
		}
	}
	if !math.IsNaN(got[5]) {
		t.Errorf("NaN p-value adjusted to %g", got[5])
	}
}
