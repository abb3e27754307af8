package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
)

// The report grows as benchmarks finish: BenchmarkDone comes once per benchmark, after its
// last trial, with every one of its samples already in the run directory.
func TestBenchmarkDoneSeesEverySampleOfTheBenchmark(t *testing.T) {
	a, b := newFakeDriver("a"), newFakeDriver("b")
	first, second := &fakeBench{name: "first"}, &fakeBench{name: "second"}
	var done []string
	opts := Options{Trials: 2, Warmup: 1, BenchmarkDone: func(_ context.Context, dir, name string) {
		samples := readJSONL[results.Sample](t, filepath.Join(dir, results.SamplesFile))
		done = append(done, fmt.Sprintf("%s:%d", name, len(samples)))
	}}
	p := fakePlan(t, opts, []bench.Benchmark{first, second}, a, b)
	execute(t, context.Background(), p)
	// 2 runtimes x 2 measured trials each: 4 samples after the first, 8 after the second.
	if want := []string{"first:4", "second:8"}; !slices.Equal(done, want) {
		t.Errorf("BenchmarkDone calls %v, want %v", done, want)
	}
}
