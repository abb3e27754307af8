package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
)

// trialLabel names a trial's raw directory: warmup-1, ... then trial-1, ...
func trialLabel(round, warmup int) string {
	if round < 1 {
		return fmt.Sprintf("warmup-%d", round+warmup)
	}
	return fmt.Sprintf("trial-%d", round)
}

// runTrial runs one benchmark on one runtime in one round under the trial timeout and
// records what it measured, or its failure. Warm-up trials (round < 1) run the same way
// and their samples are dropped here, the one place that does. It returns an error only
// when the run must stop: a record could not be written, or ctx was cancelled (then the
// trial in flight is neither a sample nor a failure).
func (x *execution) runTrial(ctx context.Context, b bench.Benchmark, r *plannedRuntime, round int, sched *schedule) error {
	opts := x.plan.opts
	name := r.profile.Name
	warm := round < 1
	label := trialLabel(round, opts.Warmup)
	raw := filepath.Join(x.dir, results.RawDir, name, b.Name(), label)
	if err := os.MkdirAll(raw, 0o755); err != nil {
		return fmt.Errorf("making the raw directory of %s %s %s: %w", b.Name(), name, label, err)
	}
	metrics := map[string]bench.Metric{}
	for _, m := range b.Metrics() {
		metrics[m.Name] = m
	}
	// emitErr fails the trial (a benchmark bug); recordErr stops the run.
	var emitErr, recordErr error
	trial := &bench.Trial{
		Driver: r.driver, Image: x.plan.img, RootFS: x.plan.rootfs, Runtime: name,
		Index: max(round, 0), Warmup: warm, Quick: opts.Quick,
		Settings: opts.Config.BenchSettings(b.Name()),
		RawDir:   raw, RunDir: x.dir, NewID: x.newID(name), Probe: x.plan.probe, MemoryBudget: opts.MemoryBudget,
		Peers: x.peers,
		Logf:  x.log.linef,
		Info:  map[string]string{},
	}
	trial.Emit = func(metric string, value float64, params map[string]string) {
		if warm || emitErr != nil || recordErr != nil {
			return
		}
		m, ok := metrics[metric]
		if !ok {
			emitErr = fmt.Errorf("benchmark %s emitted unknown metric %q", b.Name(), metric)
			return
		}
		if err := checkValue(metric, value); err != nil {
			emitErr = err
			return
		}
		s := results.Sample{RunID: x.plan.runID, Host: x.host, Runtime: name, Benchmark: b.Name(),
			Metric: metric, Unit: m.Unit, Better: m.Better, Value: value, Trial: round,
			Time: time.Now().UTC(), Params: params, Info: maps.Clone(trial.Info)}
		if len(s.Info) == 0 {
			s.Info = nil
		}
		recordErr = x.rec.sample(s, sched)
	}

	tctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	err := b.Run(tctx, trial)
	timedOut := errors.Is(tctx.Err(), context.DeadlineExceeded)
	cancel()
	if !warm {
		sched.ran(name)
	}
	if recordErr != nil {
		return recordErr
	}
	if err == nil {
		err = emitErr
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if timedOut {
		err = fmt.Errorf("trial timed out after %s: %w", opts.Timeout, err)
	}
	rel, relErr := filepath.Rel(x.dir, raw)
	if relErr != nil {
		rel = raw
	}
	x.log.linef("%s %s %s failed: %v", b.Name(), name, label, oneLine(err.Error()))
	return x.rec.failure(results.Failure{RunID: x.plan.runID, Host: x.host, Runtime: name, Benchmark: b.Name(),
		Trial: round, Time: time.Now().UTC(), Error: err.Error(), Stderr: bench.StderrOf(err), RawPath: rel}, raw)
}
