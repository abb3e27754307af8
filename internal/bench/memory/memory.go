// Package memory is the memory bandwidth benchmark: sysbench memory, sequential reads and
// writes in 1 KiB and 1 MiB blocks, in MiB/s.
package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "memory"

// MetricThroughput is the one metric, with params op, block, access and threads.
const MetricThroughput = "throughput"

// Settings are the benchmark's settings (config file: benchmarks: memory: {...}).
type Settings struct {
	// Time is how long each of the four sysbench runs lasts (rounded up to whole seconds).
	Time bench.Duration `yaml:"time"`
	// Threads is sysbench's --threads.
	Threads int `yaml:"threads"`
}

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Time: bench.Duration(10 * time.Second), Threads: 1}
	if quick {
		s.Time = bench.Duration(2 * time.Second)
	}
	return s
}

// Validate refuses settings sysbench cannot run.
func (s Settings) Validate() error {
	if s.Threads < 1 {
		return fmt.Errorf("threads: %d; need at least 1", s.Threads)
	}
	if s.Time <= 0 {
		return errors.New("time must be positive")
	}
	return nil
}

// workload is one sysbench memory run.
type workload struct {
	op    string // sysbench --memory-oper
	block string // sysbench --memory-block-size
	label string // the block param in results
	shown string // how sysbench reports the block size back
}

var workloads = []workload{
	{"read", "1K", "1KiB", "1KiB"},
	{"read", "1M", "1MiB", "1024KiB"},
	{"write", "1K", "1KiB", "1KiB"},
	{"write", "1M", "1MiB", "1024KiB"},
}

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "sysbench memory, sequential read and write, 1 KiB and 1 MiB blocks: MiB/s"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{{
		Name: MetricThroughput, Unit: "MiB/s", Better: results.Higher,
		Description: "sysbench memory transfer rate (params: op, block, access, threads)",
	}}
}

func (Benchmark) Tools() []string { return []string{"sysbench"} }

// Run runs the four workloads, each in its own container.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) error {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	dur, threads := cfg.Time.D(), cfg.Threads
	for _, w := range workloads {
		args := []string{"sysbench", "memory",
			"--threads=" + strconv.Itoa(threads),
			"--time=" + strconv.Itoa(max(1, int(math.Ceil(dur.Seconds())))),
			"--memory-oper=" + w.op,
			"--memory-access-mode=seq",
			"--memory-block-size=" + w.block,
			// 0 lifts the default 100 GiB cap, which fast hosts reach before the time is up.
			"--memory-total-size=0",
			"run"}
		name := fmt.Sprintf("sysbench-memory-%s-%s", w.op, w.label)
		out, err := bench.RunToExitSaved(ctx, t, name, runtime.Spec{ID: t.NewID(), Args: args})
		if err != nil {
			return fmt.Errorf("sysbench memory %s %s: %w", w.op, w.label, err)
		}
		res, err := Parse(out.Stdout)
		if err != nil {
			return err
		}
		if res.Operation != w.op || res.BlockSize != w.shown {
			return fmt.Errorf("sysbench memory ran %s with %s blocks, asked for %s with %s", res.Operation, res.BlockSize, w.op, w.label)
		}
		t.Emit(MetricThroughput, res.MiBPerSecond, map[string]string{
			"op": w.op, "block": w.label, "access": "seq", "threads": strconv.Itoa(threads),
		})
	}
	return nil
}
