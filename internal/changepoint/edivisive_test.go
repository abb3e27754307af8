package changepoint

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func noisy(n int, mean, sd float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + sd*rng.NormFloat64()
	}
	return out
}

func TestStepChangeFoundAtItsIndex(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		values := append(noisy(18, 100, 2, seed), noisy(12, 115, 2, seed+100)...)
		cps, err := EDivisive(values, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) != 1 || cps[0].Index != 18 {
			t.Fatalf("seed %d: change points %+v, want one at 18", seed, cps)
		}
		if cps[0].P > DefaultAlpha {
			t.Errorf("seed %d: p %g above alpha", seed, cps[0].P)
		}
	}
}

func TestTwoStepsBothFound(t *testing.T) {
	values := append(append(noisy(10, 50, 1, 7), noisy(10, 60, 1, 8)...), noisy(10, 45, 1, 9)...)
	cps, err := EDivisive(values, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 2 || cps[0].Index != 10 || cps[1].Index != 20 {
		t.Fatalf("change points %+v, want 10 and 20", cps)
	}
}

func TestFlatNoisySeriesHasNone(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		values := noisy(30, 100, 10, seed)
		cps, err := EDivisive(values, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) != 0 {
			t.Errorf("seed %d: flat series gave change points %+v", seed, cps)
		}
	}
}

func TestSameAnswerEveryTime(t *testing.T) {
	values := append(noisy(15, 10, 1, 3), noisy(15, 11.5, 1, 4)...)
	a, _ := EDivisive(values, Options{})
	b, _ := EDivisive(values, Options{})
	if len(a) != len(b) || (len(a) > 0 && a[0] != b[0]) {
		t.Fatalf("two runs differ: %+v vs %+v", a, b)
	}
}

func TestNaNRefused(t *testing.T) {
	_, err := EDivisive([]float64{1, 2, math.NaN(), 4, 5, 6}, Options{})
	if !errors.Is(err, ErrNotFinite) {
		t.Fatalf("err = %v, want ErrNotFinite", err)
	}
}

func TestShortSeriesHasNone(t *testing.T) {
	cps, err := EDivisive([]float64{1, 100, 1, 100, 1}, Options{})
	if err != nil || len(cps) != 0 {
		t.Fatalf("5 values: %+v, %v", cps, err)
	}
}

// The prefix-sum q equals the statistic computed straight from its definition.
func TestQMatchesDefinition(t *testing.T) {
	seg := noisy(13, 5, 2, 11)
	direct := func(tau int) float64 {
		x, y := seg[:tau], seg[tau:]
		m, n := float64(len(x)), float64(len(y))
		var between, wx, wy float64
		for _, a := range x {
			for _, b := range y {
				between += math.Abs(a - b)
			}
		}
		for i := range x {
			for k := i + 1; k < len(x); k++ {
				wx += math.Abs(x[i] - x[k])
			}
		}
		for i := range y {
			for k := i + 1; k < len(y); k++ {
				wy += math.Abs(y[i] - y[k])
			}
		}
		e := 2*between/(m*n) - 2*wx/(m*(m-1)) - 2*wy/(n*(n-1))
		return m * n / (m + n) * e
	}
	best, bestQ := 0, math.Inf(-1)
	for tau := 3; tau <= len(seg)-3; tau++ {
		if q := direct(tau); q > bestQ {
			best, bestQ = tau, q
		}
	}
	tau, q, ok := splitSegment(seg, 3)
	if !ok || tau != best || math.Abs(q-bestQ) > 1e-9*math.Abs(bestQ) {
		t.Fatalf("splitSegment = %d %g, definition %d %g", tau, q, best, bestQ)
	}
}
