// Package cpu is the CPU benchmark: sysbench's prime-number test with one thread and with
// as many threads as the host has CPUs, in events per second.
package cpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "cpu"

// Metric names.
const MetricEventsPerSecond = "events_per_second"

// Settings are the benchmark's settings (config file: benchmarks: cpu: {...}).
type Settings struct {
	// Time is how long each sysbench run lasts (rounded up to whole seconds).
	Time bench.Duration `yaml:"time"`
	// Threads lists the thread counts to run; 0 means one per host CPU.
	Threads []int `yaml:"threads"`
	// MaxPrime is sysbench's --cpu-max-prime (the work per event).
	MaxPrime int `yaml:"max_prime"`
}

// DefaultSettings implements bench.Configurable. MaxPrime is sysbench's own default, so
// hand runs compare.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Time: bench.Duration(10 * time.Second), Threads: []int{1, 0}, MaxPrime: 10000}
	if quick {
		s.Time = bench.Duration(2 * time.Second)
	}
	return s
}

// Validate refuses settings sysbench cannot run.
func (s Settings) Validate() error {
	if s.Time <= 0 || s.MaxPrime < 1 || len(s.Threads) == 0 {
		return errors.New("time and max_prime must be positive and threads not empty")
	}
	return nil
}

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "sysbench cpu (primes) with 1 thread and with one thread per host CPU: events/s"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{{
		Name: MetricEventsPerSecond, Unit: "events/s", Better: results.Higher,
		Description: "sysbench cpu events per second (params: threads)",
	}}
}

func (Benchmark) Tools() []string { return []string{"sysbench"} }

// Run runs sysbench cpu once per thread count.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) error {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	dur, threads, maxPrime := cfg.Time.D(), cfg.Threads, cfg.MaxPrime
	for _, n := range dedupe(resolveThreads(threads)) {
		args := []string{"sysbench", "cpu",
			"--threads=" + strconv.Itoa(n),
			"--time=" + strconv.Itoa(wholeSeconds(dur)),
			"--cpu-max-prime=" + strconv.Itoa(maxPrime),
			"run"}
		out, err := bench.RunToExitSaved(ctx, t, fmt.Sprintf("sysbench-cpu-threads%d", n), runtime.Spec{ID: t.NewID(), Args: args})
		if err != nil {
			return fmt.Errorf("sysbench cpu with %d threads: %w", n, err)
		}
		res, err := Parse(out.Stdout)
		if err != nil {
			return err
		}
		if res.Threads != n {
			return fmt.Errorf("sysbench cpu ran %d threads, asked for %d", res.Threads, n)
		}
		t.Emit(MetricEventsPerSecond, res.EventsPerSecond, map[string]string{"threads": strconv.Itoa(n)})
	}
	return nil
}

// resolveThreads turns 0 ("all") into the host's CPU count.
func resolveThreads(list []int) []int {
	out := make([]int, 0, len(list))
	for _, n := range list {
		if n <= 0 {
			n = goruntime.NumCPU()
		}
		out = append(out, n)
	}
	return out
}

// dedupe keeps the first of equal thread counts: on a 1-CPU host "1" and "all" are one run.
func dedupe(list []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, n := range list {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// wholeSeconds rounds up, since sysbench takes --time in whole seconds.
func wholeSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
