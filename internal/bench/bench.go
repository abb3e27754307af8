// Package bench defines the benchmark interface. A benchmark runs its workload inside a
// container of any driver, through runtime.Driver only, so every benchmark works
// unchanged for processes, OCI runtimes, engines and microVMs.
package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Metric describes one value a benchmark reports.
type Metric struct {
	Name        string
	Unit        string
	Better      results.Better
	Description string
	// Distribution: the whole distribution of the samples matters (reports draw a CDF).
	Distribution bool
	// Headline: the one figure that sums the benchmark up; at most one per benchmark.
	Headline bool
	// Caveat is what a reader must know before trusting a change in the metric, or "".
	Caveat string
}

// Declared is what the named benchmarks declare about their metrics, for the run's
// environment.json; unknown names are left out.
func Declared(names []string) []results.MetricInfo {
	var out []results.MetricInfo
	for _, name := range names {
		b, err := Get(name)
		if err != nil {
			continue
		}
		for _, m := range b.Metrics() {
			out = append(out, results.MetricInfo{Benchmark: name, Name: m.Name, Unit: m.Unit, Better: m.Better,
				Description: m.Description, Distribution: m.Distribution, Headline: m.Headline, Caveat: m.Caveat})
		}
	}
	return out
}

// Benchmark is one kind of measurement.
type Benchmark interface {
	Name() string
	// Description is one line for `isobench list`.
	Description() string
	Metrics() []Metric
	// Tools lists the programs the workload needs in the image; a run fails at once,
	// naming the tool, when the image lacks one.
	Tools() []string
	// Run performs one trial on one runtime and emits its samples through t.Emit.
	Run(ctx context.Context, t *Trial) error
}

// Trial is everything one trial of a benchmark gets.
type Trial struct {
	Driver  runtime.Driver
	Image   *image.Image
	RootFS  string // the image's unpacked root filesystem (read-only), for checks
	Runtime string // profile name
	// Index is the round of a measured trial, from 1 (the same for every runtime of the
	// round); warm-up trials have Index 0. A warm-up trial runs and emits like any other:
	// the runner drops its samples, so a benchmark need not check Warmup.
	Index  int
	Warmup bool
	Quick  bool
	// Settings are the benchmark's settings from the config file (merged over its defaults).
	Settings Settings
	// RawDir is this trial's directory for raw outputs (exists).
	RawDir string
	// RunDir is the run directory RawDir lives in (for relative paths).
	RunDir string
	// NewID returns a fresh container ID that starts with runtime.NamePrefix.
	NewID func() string
	// Probe is the host path of the static probe binary to bind into containers at ProbePath.
	Probe string
	// MemoryBudget is the most host memory (bytes) a benchmark may take out of
	// MemAvailable; 0 leaves it to the benchmark's default.
	MemoryBudget uint64
	// Peers are every prepared runtime of the run by profile name, this one included, for
	// benchmarks that run containers of several runtimes side by side (interference).
	Peers map[string]runtime.Driver
	// Info is attached to every sample the trial emits after it is set: facts about how
	// the values were measured that do not tell series apart (the network stack).
	Info map[string]string
	// Emit records one sample of a metric named in Metrics; it is never nil.
	Emit func(metric string, value float64, params map[string]string)
	// Logf writes a progress line (never called inside a timed section).
	Logf func(format string, args ...any)
}

// SetInfo records a fact about how the trial's samples were measured (see Trial.Info).
func (t *Trial) SetInfo(key, value string) {
	if t.Info != nil {
		t.Info[key] = value
	}
}

// InfoStack names, in Trial.Info, the network stack that served a networked trial.
const InfoStack = "stack"

// ProbePath is where the probe binary appears inside every container.
const ProbePath = "/.isobench/isobench"

var (
	mu      sync.Mutex
	benches = map[string]Benchmark{}
)

// Register adds a benchmark; benchmark packages call it from init.
func Register(b Benchmark) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := benches[b.Name()]; dup {
		panic("bench: registered twice: " + b.Name())
	}
	benches[b.Name()] = b
}

// Get finds a benchmark by name.
func Get(name string) (Benchmark, error) {
	mu.Lock()
	defer mu.Unlock()
	b, ok := benches[name]
	if !ok {
		return nil, fmt.Errorf("unknown benchmark %q (known: %v; see `isobench list`)", name, namesLocked())
	}
	return b, nil
}

// All lists the benchmarks by name.
func All() []Benchmark {
	mu.Lock()
	defer mu.Unlock()
	var out []Benchmark
	for _, n := range namesLocked() {
		out = append(out, benches[n])
	}
	return out
}

func namesLocked() []string {
	var names []string
	for n := range benches {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
