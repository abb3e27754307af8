// Package runner carries out a run. Its parts, one file each: the policy (defaults and
// checks of Options), the plan (profiles, drivers, benchmarks, image and probe, checked
// before anything is written), the schedule (interleaved rounds, rotation, when to stop),
// the trial (one benchmark on one runtime under a timeout) and the recorder (samples,
// failures and raw outputs on disk as they are measured). Execute ties them together and
// removes everything it made, also when interrupted.
package runner

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/isobench/isobench/internal/config"
	"github.com/isobench/isobench/internal/results"
)

// Options configure a run. Zero values pick the defaults of policy.go.
type Options struct {
	// Runtimes are profile names; empty means every usable profile.
	Runtimes []string
	// SkipUnusable skips named runtimes that cannot run here instead of refusing the run.
	SkipUnusable bool
	Benches      []string
	// Trials are the measured trials per runtime and benchmark; 0 picks DefaultTrials
	// (QuickTrials with Quick). With Until, they are the first checkpoint.
	Trials int
	// Warmup trials run before the measured ones and are never recorded.
	Warmup int
	// Until, when set, adds interleaved rounds after Trials until every series' median is
	// known to the asked precision or a maximum is reached.
	Until *StopRule
	// OutDir is the run directory; empty makes runs/<time>-<id>.
	OutDir   string
	Baseline string
	Quick    bool
	// Timeout bounds one trial; 0 picks DefaultTimeout (QuickTimeout with Quick).
	Timeout time.Duration
	Image   string
	Config  *config.Config
	Home    string
	// Log receives progress and the summary.
	Log io.Writer
	// MemoryBudget bounds the host memory the density benchmark may take (bytes; 0 = its default).
	MemoryBudget uint64
	// Progress draws a progress bar instead of log lines (on a terminal).
	Progress bool
	// Labels are recorded in environment.json as the user gave them.
	Labels map[string]string
	// BenchmarkDone, when set, is called after each benchmark's last trial, with every
	// sample of it in the run directory dir: the CLI writes the report so far.
	BenchmarkDone func(ctx context.Context, dir, bench string)
}

// InputError is a problem with what the user asked for; the CLI exits 2 on it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// Result is what a run leaves.
type Result struct {
	Dir         string
	Samples     int
	Failures    int
	Interrupted bool
	Env         results.Environment
	// CleanupErr says what a driver could not remove at the end (run `isobench cleanup`);
	// the measurements are complete even so.
	CleanupErr error
}
