package runner

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
)

func execute(t *testing.T, ctx context.Context, p *Plan) *Result {
	t.Helper()
	res, err := p.Execute(ctx)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return res
}

func TestRoundsRotateAndWarmupIsNeverRecorded(t *testing.T) {
	a, b, c := newFakeDriver("a"), newFakeDriver("b"), newFakeDriver("c")
	fb := &fakeBench{name: "fake"}
	p := fakePlan(t, Options{Trials: 3, Warmup: 1, Labels: map[string]string{"runc-commit": "1a2b3c"}}, []bench.Benchmark{fb}, a, b, c)
	res := execute(t, context.Background(), p)
	if got := readEnv(t, res.Dir).Labels; len(got) != 1 || got["runc-commit"] != "1a2b3c" {
		t.Errorf("environment.json labels %v, want the run's runc-commit=1a2b3c", got)
	}

	want := []string{
		"a/0/true", "b/0/true", "c/0/true", // warm-up round
		"b/1/false", "c/1/false", "a/1/false",
		"c/2/false", "a/2/false", "b/2/false",
		"a/3/false", "b/3/false", "c/3/false",
	}
	if !slices.Equal(fb.calls, want) {
		t.Errorf("trial order\n got %v\nwant %v", fb.calls, want)
	}
	samples := readJSONL[results.Sample](t, filepath.Join(res.Dir, results.SamplesFile))
	if len(samples) != 9 || res.Samples != 9 {
		t.Fatalf("%d samples on disk, %d counted, want 9 (3 runtimes x 3 trials, no warm-up)", len(samples), res.Samples)
	}
	for _, s := range samples {
		// The fake emits its trial index: a warm-up sample would carry 0.
		if s.Trial < 1 || s.Value != float64(s.Trial) {
			t.Errorf("sample %+v: a warm-up value was recorded, or trial is not the round", s)
		}
	}
	for _, d := range []*fakeDriver{a, b, c} {
		if err := d.leftovers(); err != nil {
			t.Error(err)
		}
	}
}

func TestTimeoutIsAFailureWithStderr(t *testing.T) {
	hung := newFakeDriver("hung")
	hung.block, hung.stderr = true, "runtime says: waiting for the sandbox\n"
	ok := newFakeDriver("ok")
	p := fakePlan(t, Options{Trials: 2, Warmup: 0, Timeout: 50 * time.Millisecond}, []bench.Benchmark{&fakeBench{name: "fake"}}, hung, ok)
	res := execute(t, context.Background(), p)

	fails := readJSONL[results.Failure](t, filepath.Join(res.Dir, results.FailuresFile))
	if len(fails) != 2 || res.Failures != 2 {
		t.Fatalf("%d failures on disk, %d counted, want 2", len(fails), res.Failures)
	}
	for _, f := range fails {
		if f.Runtime != "hung" || !strings.Contains(f.Error, "timed out after 50ms") || f.Stderr != hung.stderr {
			t.Errorf("failure %+v: want hung's timeout with its stderr", f)
		}
		b, err := os.ReadFile(filepath.Join(res.Dir, f.RawPath, "error"))
		if err != nil || !strings.Contains(string(b), "timed out") || !strings.Contains(string(b), hung.stderr) {
			t.Errorf("raw error file of %s: %q, %v", f.RawPath, b, err)
		}
	}
	if res.Samples != 2 {
		t.Errorf("%d samples, want ok's 2: a hung runtime must not stop the others", res.Samples)
	}
	for _, d := range []*fakeDriver{hung, ok} {
		if err := d.leftovers(); err != nil {
			t.Error(err)
		}
	}
}

func TestAFailingBenchmarkDoesNotStopTheRun(t *testing.T) {
	a, b := newFakeDriver("a"), newFakeDriver("b")
	flaky := &fakeBench{name: "flaky", before: func(_ context.Context, t *bench.Trial) error {
		if t.Runtime == "b" && t.Index == 2 {
			return &bench.FailedError{Err: errors.New("workload exited with status 3"), Stderr: "segfault"}
		}
		return nil
	}}
	second := &fakeBench{name: "second"}
	p := fakePlan(t, Options{Trials: 3, Warmup: 1}, []bench.Benchmark{flaky, second}, a, b)
	res := execute(t, context.Background(), p)

	fails := readJSONL[results.Failure](t, filepath.Join(res.Dir, results.FailuresFile))
	if len(fails) != 1 || fails[0].Runtime != "b" || fails[0].Trial != 2 || fails[0].Benchmark != "flaky" || fails[0].Stderr != "segfault" {
		t.Fatalf("failures %+v: want b's trial 2 of flaky with its stderr", fails)
	}
	if res.Samples != 11 || len(second.calls) != 8 {
		t.Errorf("%d samples and %d trials of the second benchmark, want 11 and 8", res.Samples, len(second.calls))
	}
}

func TestInterruptKeepsSamplesAndCleansUp(t *testing.T) {
	a, b := newFakeDriver("a"), newFakeDriver("b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The signal arrives while b's trial 3 runs: the container in flight is torn down,
	// and that trial is neither a sample nor a failure.
	fb := &fakeBench{name: "fake", before: func(ctx context.Context, t *bench.Trial) error {
		if t.Runtime == "b" && t.Index == 3 {
			b.block = true
			cancel()
		}
		return nil
	}}
	p := fakePlan(t, Options{Trials: 10, Warmup: 0}, []bench.Benchmark{fb}, a, b)
	res := execute(t, ctx, p)
	if !res.Interrupted {
		t.Fatal("result does not say interrupted")
	}
	samples := readJSONL[results.Sample](t, filepath.Join(res.Dir, results.SamplesFile))
	// Rounds 1 and 2 complete (4 samples), round 3 runs a before b (rotation).
	if len(samples) != 5 || res.Samples != 5 {
		t.Errorf("%d samples on disk, %d counted, want 5", len(samples), res.Samples)
	}
	if fails := readJSONL[results.Failure](t, filepath.Join(res.Dir, results.FailuresFile)); len(fails) != 0 {
		t.Errorf("the interrupted trial was recorded as a failure: %+v", fails)
	}
	if env := readEnv(t, res.Dir); !env.Interrupted || env.Finished.IsZero() {
		t.Errorf("environment.json: interrupted %v, finished %v", env.Interrupted, env.Finished)
	}
	for _, d := range []*fakeDriver{a, b} {
		if err := d.leftovers(); err != nil {
			t.Error(err)
		}
	}
}

func TestAFailureThatCannotBeRecordedStopsTheRun(t *testing.T) {
	a := newFakeDriver("a")
	fb := &fakeBench{name: "fake", before: func(_ context.Context, t *bench.Trial) error {
		if t.Index == 2 {
			return errors.New("the workload failed")
		}
		return nil
	}}
	p := fakePlan(t, Options{Trials: 5, Warmup: 0}, []bench.Benchmark{fb}, a)
	p.newWriter = func(dir string) (resultsWriter, error) {
		w, err := results.Create(dir)
		return &failingWriter{Writer: w, failFailures: true}, err
	}
	res, err := p.Execute(context.Background())
	if err == nil || !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "recording the failed trial 2 of a fake") ||
		!strings.Contains(err.Error(), "the workload failed") {
		t.Fatalf("Execute: %v; want the failure it could not record, named", err)
	}
	if res == nil || res.Failures != 1 || res.Samples != 1 || len(fb.calls) != 2 {
		t.Errorf("result %+v after %d trials: want the run stopped at the failure", res, len(fb.calls))
	}
	if err := a.leftovers(); err != nil {
		t.Error(err)
	}
}

func TestASampleThatCannotBeRecordedStopsTheRun(t *testing.T) {
	a := newFakeDriver("a")
	fb := &fakeBench{name: "fake"}
	p := fakePlan(t, Options{Trials: 5, Warmup: 1}, []bench.Benchmark{fb}, a)
	p.newWriter = func(dir string) (resultsWriter, error) {
		w, err := results.Create(dir)
		return &failingWriter{Writer: w, failSamples: true}, err
	}
	_, err := p.Execute(context.Background())
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "recording a sample of a fake") {
		t.Fatalf("Execute: %v; want the sample it could not record", err)
	}
	if len(fb.calls) != 2 {
		t.Errorf("%d trials ran, want the warm-up and the first", len(fb.calls))
	}
	if err := a.leftovers(); err != nil {
		t.Error(err)
	}
}

func TestARawErrorFileThatCannotBeWrittenIsSaid(t *testing.T) {
	a := newFakeDriver("a")
	fb := &fakeBench{name: "fake", before: func(_ context.Context, t *bench.Trial) error {
		// Where the runner keeps the error, the benchmark left a directory.
		if err := os.Mkdir(filepath.Join(t.RawDir, "error"), 0o755); err != nil {
			return err
		}
		return errors.New("the workload failed")
	}}
	p := fakePlan(t, Options{Trials: 1, Warmup: 0}, []bench.Benchmark{fb}, a)
	res := execute(t, context.Background(), p)
	fails := readJSONL[results.Failure](t, filepath.Join(res.Dir, results.FailuresFile))
	if len(fails) != 1 || !strings.Contains(fails[0].Error, "the workload failed") ||
		!strings.Contains(fails[0].Error, "raw error file could not be written") {
		t.Fatalf("failures %+v: want the failure, saying its raw error file is missing", fails)
	}
}

func TestNaNAndUnknownMetricsFailTheTrial(t *testing.T) {
	a := newFakeDriver("a")
	fb := &fakeBench{name: "fake", values: func(t *bench.Trial) []float64 {
		if t.Index == 1 {
			return []float64{nan()}
		}
		return []float64{1}
	}}
	p := fakePlan(t, Options{Trials: 2, Warmup: 0}, []bench.Benchmark{fb}, a)
	res := execute(t, context.Background(), p)
	fails := readJSONL[results.Failure](t, filepath.Join(res.Dir, results.FailuresFile))
	if len(fails) != 1 || fails[0].Trial != 1 || !strings.Contains(fails[0].Error, "NaN") || res.Samples != 1 {
		t.Fatalf("failures %+v, %d samples: want trial 1 failed for its NaN and trial 2 kept", fails, res.Samples)
	}
}

func TestADriverThatCannotCleanUpIsSaid(t *testing.T) {
	a := newFakeDriver("a")
	a.closeErr = errors.New("device or resource busy")
	p := fakePlan(t, Options{Trials: 1, Warmup: 0}, []bench.Benchmark{&fakeBench{name: "fake"}}, a)
	res := execute(t, context.Background(), p)
	if res.CleanupErr == nil || !strings.Contains(res.CleanupErr.Error(), "removing what a made: device or resource busy") {
		t.Fatalf("CleanupErr %v: want the driver's close error", res.CleanupErr)
	}
}

func TestADriverWhosePrepareFailedIsClosedAndSkipped(t *testing.T) {
	broken, ok := newFakeDriver("broken"), newFakeDriver("ok")
	broken.prepareErr = errors.New("loading the image: connection reset")
	broken.closeErr = errors.New("network in use")
	fb := &fakeBench{name: "fake"}
	p := fakePlan(t, Options{Trials: 2, Warmup: 0}, []bench.Benchmark{fb}, broken, ok)
	res := execute(t, context.Background(), p)
	if broken.closed != 1 || ok.closed != 1 {
		t.Errorf("closed broken %d times and ok %d times, want once each", broken.closed, ok.closed)
	}
	if res.CleanupErr == nil || !strings.Contains(res.CleanupErr.Error(), "removing what broken made: network in use") {
		t.Errorf("CleanupErr %v: want the failed driver's close error", res.CleanupErr)
	}
	env := readEnv(t, res.Dir)
	if why := env.Skipped["broken"]; !strings.Contains(why, "prepare failed: loading the image: connection reset") {
		t.Errorf("skipped %q: want broken's prepare error", why)
	}
	if _, recorded := env.Runtimes["broken"]; recorded || res.Samples != 2 || len(fb.calls) != 2 {
		t.Errorf("broken recorded as a runtime %v; %d samples and trials %v, want ok's 2 alone", recorded, res.Samples, fb.calls)
	}
	for _, d := range []*fakeDriver{broken, ok} {
		if err := d.leftovers(); err != nil {
			t.Error(err)
		}
	}
}

func TestPolicyDefaults(t *testing.T) {
	for _, tc := range []struct {
		in      Options
		trials  int
		timeout time.Duration
	}{
		{Options{}, DefaultTrials, DefaultTimeout},
		{Options{Quick: true}, QuickTrials, QuickTimeout},
		{Options{Trials: 7, Timeout: time.Second}, 7, time.Second},
	} {
		got, err := tc.in.resolve()
		if err != nil || got.Trials != tc.trials || got.Timeout != tc.timeout {
			t.Errorf("%+v: trials %d, timeout %s, %v; want %d, %s", tc.in, got.Trials, got.Timeout, err, tc.trials, tc.timeout)
		}
	}
	u, err := Options{Until: &StopRule{Precision: 0.02}}.resolve()
	if err != nil || u.Until.MaxTrials != DefaultMaxTrials {
		t.Errorf("until defaults: %+v, %v", u.Until, err)
	}
	for _, bad := range []Options{
		{Trials: -1}, {Warmup: -1}, {Timeout: -time.Second},
		{Until: &StopRule{Precision: 0}}, {Until: &StopRule{Precision: 1}}, {Until: &StopRule{Precision: nan()}},
		{Trials: 20, Until: &StopRule{Precision: 0.02, MaxTrials: 10}}, {Until: &StopRule{Precision: 0.02, MaxTime: -1}},
	} {
		var ie *InputError
		if _, err := bad.resolve(); !errors.As(err, &ie) {
			t.Errorf("%+v: %v, want an input error", bad, err)
		}
	}
}

// The stopping rule, for real: a runtime whose values hardly move stops at the first
// checkpoint, a noisy one gets the maximum, and environment.json says which and why.
func TestUntilPrecisionStopsTheSteadyRuntimeEarly(t *testing.T) {
	steady, noisy := newFakeDriver("steady"), newFakeDriver("noisy")
	rng := rand.New(rand.NewPCG(1, 2))
	fb := &fakeBench{name: "fake", values: func(t *bench.Trial) []float64 {
		if t.Runtime == "steady" {
			return []float64{100 * (1 + 0.002*rng.NormFloat64())}
		}
		return []float64{100 * (1 + 0.3*rng.NormFloat64())}
	}}
	p := fakePlan(t, Options{Trials: 10, Warmup: 1, Until: &StopRule{Precision: 0.02, MaxTrials: 30}}, []bench.Benchmark{fb}, steady, noisy)
	res := execute(t, context.Background(), p)

	count := map[string]int{}
	for _, s := range readJSONL[results.Sample](t, filepath.Join(res.Dir, results.SamplesFile)) {
		count[s.Runtime]++
	}
	if count["steady"] != 10 || count["noisy"] != 30 {
		t.Errorf("samples per runtime %v, want steady 10 (first checkpoint) and noisy 30 (the maximum)", count)
	}
	env := readEnv(t, res.Dir)
	st := env.Stopping
	if st == nil {
		t.Fatal("environment.json has no stopping record")
	}
	if !slices.Equal(st.Checkpoints, []int{10, 15, 23, 30}) || st.Confidence != StopConfidence ||
		st.LookConfidence != 1-0.05/5 || !strings.Contains(st.Rule, "Bonferroni") {
		t.Errorf("stopping record %+v", st)
	}
	reasons := map[string]results.SeriesStop{}
	for _, s := range st.Series {
		reasons[s.Runtime] = s
	}
	if s := reasons["steady"]; s.Reason != results.StopPrecise || s.N != 10 || s.Trials != 10 || s.HalfWidth == nil || *s.HalfWidth > 0.02 || s.Metric != "value" {
		t.Errorf("steady: %+v", s)
	}
	if s := reasons["noisy"]; s.Reason != results.StopMaxTrials || s.N != 30 || s.HalfWidth == nil || *s.HalfWidth <= 0.02 {
		t.Errorf("noisy: %+v", s)
	}
	if len(st.Series) != 2 {
		t.Errorf("%d series records, want 2", len(st.Series))
	}
}

func TestUntilStopsAtTheTimeLimit(t *testing.T) {
	a := &plannedRuntime{profile: newFakeDriver("a").Profile()}
	clock := time.Unix(0, 0)
	now := func() time.Time { return clock }
	s := newSchedule("fake", Options{Trials: 4, Warmup: 1, Until: &StopRule{Precision: 0.01, MaxTrials: 100, MaxTime: time.Minute}}, []*plannedRuntime{a}, now)
	rounds := 0
	for {
		round, order, ok := s.next()
		if !ok {
			break
		}
		rounds++
		if round >= 1 {
			s.ran("a")
			s.add(results.Sample{Runtime: "a", Metric: "m", Value: float64(round)})
			clock = clock.Add(20 * time.Second)
		}
		if len(order) != 1 {
			t.Fatalf("round %d: order %v", round, order)
		}
		s.roundDone(round)
	}
	// The warm-up, then rounds at 0s, 20s, 40s; at 60s the limit is reached.
	if rounds != 4 || len(s.stops) != 1 || s.stops[0].Reason != results.StopMaxTime || s.stops[0].Trials != 3 {
		t.Errorf("%d rounds, stops %+v: want 4 rounds and a max-time stop after 3 trials", rounds, s.stops)
	}
}

func TestARuntimeWithoutSamplesStopsAtACheckpoint(t *testing.T) {
	a := &plannedRuntime{profile: newFakeDriver("a").Profile()}
	s := newSchedule("fake", Options{Trials: 2, Until: &StopRule{Precision: 0.01, MaxTrials: 10}}, []*plannedRuntime{a}, time.Now)
	for {
		round, _, ok := s.next()
		if !ok {
			break
		}
		s.ran("a")
		s.roundDone(round)
	}
	if len(s.stops) != 1 || s.stops[0].Reason != results.StopNoSamples || s.stops[0].Trials != 2 {
		t.Errorf("stops %+v: want no-samples after 2 trials", s.stops)
	}
}

func TestCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		first, max int
		want       []int
	}{
		{10, 50, []int{10, 15, 23, 35, 50}},
		{3, 3, []int{3}},
		{1, 4, []int{1, 2, 3, 4}},
	} {
		if got := checkpoints(tc.first, tc.max); !slices.Equal(got, tc.want) {
			t.Errorf("checkpoints(%d, %d) = %v, want %v", tc.first, tc.max, got, tc.want)
		}
	}
}

// Coverages from the Binomial(n, 1/2) distribution, computed by hand: at n=10,
// [x(1), x(10)] covers 1-2/1024 and [x(2), x(9)] 1-22/1024; at n=15, [x(3), x(13)]
// covers 1-2*121/32768 and [x(4), x(12)] 1-2*576/32768.
func TestMedianInterval(t *testing.T) {
	seq := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i + 1)
		}
		return xs
	}
	for _, tc := range []struct {
		n          int
		level      float64
		lo, hi     float64
		coverage   float64
		noInterval bool
	}{
		{n: 10, level: 0.99, lo: 1, hi: 10, coverage: 1 - 2.0/1024},
		{n: 10, level: 0.95, lo: 2, hi: 9, coverage: 1 - 22.0/1024},
		{n: 15, level: 0.99, lo: 3, hi: 13, coverage: 1 - 242.0/32768},
		{n: 15, level: 0.95, lo: 4, hi: 12, coverage: 1 - 1152.0/32768},
		{n: 5, level: 0.95, noInterval: true},
		{n: 6, level: 0.95, lo: 1, hi: 6, coverage: 1 - 2.0/64},
		{n: 1, level: 0.5, noInterval: true},
	} {
		iv, ok := medianInterval(seq(tc.n), tc.level)
		if ok == tc.noInterval || ok && (iv.lo != tc.lo || iv.hi != tc.hi || !near(iv.coverage, tc.coverage)) {
			t.Errorf("n=%d level %g: %+v ok=%v; want [%g, %g] covering %g (or none: %v)", tc.n, tc.level, iv, ok, tc.lo, tc.hi, tc.coverage, tc.noInterval)
		}
	}
	// Large n must not underflow.
	if iv, ok := medianInterval(seq(5000), 0.95); !ok || iv.lo >= 2500 || iv.hi <= 2500 || iv.coverage < 0.95 {
		t.Errorf("n=5000: %+v %v", iv, ok)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func nan() float64 { z := 0.0; return z / z }
