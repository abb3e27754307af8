// Package syscall is the system call cost benchmark: getpid (a trivial syscall),
// clock_gettime through the vDSO, and fork+exec+wait, in ns per operation, measured by the
// isobench probe that every runtime gets bound in at bench.ProbePath.
package syscall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/probe"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "syscall"

// Metric names.
const (
	MetricGetpid       = "getpid"
	MetricClockGettime = "clock_gettime"
	MetricForkExecWait = "fork_exec_wait"
)

// Settings are the benchmark's settings (config file: benchmarks: syscall: {...}).
type Settings struct {
	// Iterations is the getpid and clock_gettime calls per batch.
	Iterations int `yaml:"iterations"`
	// Spawns is the fork+exec+wait rounds per batch.
	Spawns int `yaml:"spawns"`
	// MinTime is how long one repetition of an operation lasts at least (whole batches
	// are run until it has passed).
	MinTime bench.Duration `yaml:"min_time"`
	// Repetitions is how many times the probe times each operation; a trial reports the
	// median.
	Repetitions int `yaml:"repetitions"`
}

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Iterations: 100_000, Spawns: 20, MinTime: bench.Duration(time.Second), Repetitions: 5}
	if quick {
		s.MinTime, s.Repetitions = bench.Duration(200*time.Millisecond), 3
	}
	return s
}

// Validate refuses settings the probe cannot run.
func (s Settings) Validate() error {
	if s.Iterations < 1 || s.Spawns < 1 || s.MinTime <= 0 || s.Repetitions < 1 {
		return errors.New("iterations, spawns, min_time and repetitions must be positive")
	}
	return nil
}

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "cost of getpid, clock_gettime (vDSO) and fork+exec+wait, timed by the static probe: ns/op"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{
		{Name: MetricGetpid, Unit: "ns/op", Better: results.Lower, Description: "raw getpid system call"},
		{Name: MetricClockGettime, Unit: "ns/op", Better: results.Lower, Description: "clock_gettime(CLOCK_MONOTONIC) through the vDSO"},
		{Name: MetricForkExecWait, Unit: "ns/op", Better: results.Lower, Description: "fork (full copy), execve of the static probe, wait4"},
	}
}

// Tools is empty: the probe is brought into the container, not taken from the image.
func (Benchmark) Tools() []string { return nil }

// Run runs the probe once and reports the median of its repetitions for each operation.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) error {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	iterations, spawns, minTime, reps := cfg.Iterations, cfg.Spawns, cfg.MinTime.D(), cfg.Repetitions
	if t.Probe == "" {
		return fmt.Errorf("no probe binary to bind at %s", bench.ProbePath)
	}
	spec := runtime.Spec{
		ID: t.NewID(),
		Args: []string{bench.ProbePath, probe.Command, "syscall",
			"--iterations", strconv.Itoa(iterations),
			"--spawns", strconv.Itoa(spawns),
			"--min-time", minTime.String(),
			"--repetitions", strconv.Itoa(reps)},
		Mounts: []runtime.Mount{{Type: "bind", Source: t.Probe, Destination: bench.ProbePath, ReadOnly: true}},
	}
	out, err := bench.RunToExitSaved(ctx, t, "probe-syscall", spec)
	if err != nil {
		return fmt.Errorf("probe syscall: %w", err)
	}
	res, err := Parse(out.Stdout)
	if err != nil {
		return err
	}
	if res.Repetitions != reps {
		return fmt.Errorf("probe syscall made %d repetitions, asked for %d", res.Repetitions, reps)
	}
	t.Emit(MetricGetpid, median(res.GetpidNs), nil)
	t.Emit(MetricClockGettime, median(res.ClockGettime), nil)
	t.Emit(MetricForkExecWait, median(res.ForkExecWait), nil)
	return nil
}

// Parse reads the JSON object `probe syscall` prints and checks that every operation has
// one positive, finite value per repetition.
func Parse(out []byte) (*probe.SyscallResult, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, fmt.Errorf("probe syscall printed nothing")
	}
	var res probe.SyscallResult
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("probe syscall output is not its JSON result (cut short?): %w", err)
	}
	if res.Repetitions < 1 {
		return nil, fmt.Errorf("probe syscall output names %d repetitions", res.Repetitions)
	}
	for name, vals := range map[string][]float64{
		MetricGetpid: res.GetpidNs, MetricClockGettime: res.ClockGettime, MetricForkExecWait: res.ForkExecWait,
	} {
		if len(vals) != res.Repetitions {
			return nil, fmt.Errorf("probe syscall output has %d values for %s, want %d", len(vals), name, res.Repetitions)
		}
		for _, v := range vals {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("probe syscall output has %v ns/op for %s", v, name)
			}
		}
	}
	return &res, nil
}

func median(vals []float64) float64 {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
