package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/version"
)

// execution is the state of one Execute.
type execution struct {
	plan    *Plan
	dir     string
	host    string
	rec     *recorder
	log     *progress
	counter atomic.Int64
	// peers are the prepared drivers by profile name (bench.Trial.Peers).
	peers map[string]runtime.Driver
}

// newID returns the container ID maker of one runtime: isobench-<run>-<profile>-<n>.
func (x *execution) newID(profile string) func() string {
	runID := x.plan.runID
	return func() string {
		return fmt.Sprintf("%s%s-%s-%d", runtime.NamePrefix, runID[len(runID)-8:], profile, x.counter.Add(1))
	}
}

// Execute runs the plan. A cancelled ctx (SIGINT, SIGTERM) ends the run after the trial in
// flight is torn down; everything measured until then stays on disk.
func (p *Plan) Execute(ctx context.Context) (*Result, error) {
	opts := p.opts
	dir := opts.OutDir
	if dir == "" {
		dir = filepath.Join("runs", p.runID)
	}
	create := p.newWriter
	if create == nil {
		create = func(dir string) (resultsWriter, error) { return results.Create(dir) }
	}
	w, err := create(dir)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	res := &Result{Dir: dir}
	defer func() {
		if err := w.Close(); err != nil && res.CleanupErr == nil {
			res.CleanupErr = fmt.Errorf("closing the result files: %w", err)
		}
	}()
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("reading the hostname that samples record: %w", err)
	}
	env := results.Environment{
		RunID:      p.runID,
		Started:    time.Now().UTC(),
		Host:       hostinfo.Collect(ctx),
		Runtimes:   map[string]results.RuntimeInfo{},
		Skipped:    p.skipped,
		Image:      results.ImageInfo{Name: p.img.Name, Digest: p.img.Digest},
		Isobench:   version.Info(),
		Config:     opts.Config,
		Baseline:   opts.Baseline,
		Benchmarks: opts.Benches,
		Metrics:    bench.Declared(opts.Benches),
		Labels:     opts.Labels,
	}
	for _, r := range p.runtimes {
		env.Runtimes[r.profile.Name] = runtimeInfo(r)
	}
	if err := w.WriteEnvironment(env); err != nil {
		return nil, err
	}
	log := newProgress(opts.Log, opts.Progress, p.totalTrials())
	defer log.finish()
	x := &execution{plan: p, dir: dir, host: host, log: log,
		rec: &recorder{w: w, res: res, summary: newSummary()}}

	ready, prepareCleanupErr := p.prepare(ctx, env, log)
	res.CleanupErr = prepareCleanupErr
	defer func() { res.CleanupErr = errors.Join(res.CleanupErr, closeDrivers(ctx, ready, log)) }()
	x.peers = map[string]runtime.Driver{}
	for _, r := range ready {
		x.peers[r.profile.Name] = r.driver
	}

	var stopping *results.Stopping
	if opts.Until != nil {
		cps := checkpoints(opts.Trials, opts.Until.MaxTrials)
		level := lookConfidence(len(cps))
		stopping = &results.Stopping{
			Rule: ruleText(opts.Until, cps, level), Precision: opts.Until.Precision, MaxTrials: opts.Until.MaxTrials,
			MaxTimeSeconds: opts.Until.MaxTime.Seconds(), Confidence: StopConfidence, LookConfidence: level,
			Checkpoints: cps,
		}
		env.Stopping = stopping
	}
	runErr := x.runBenchmarks(ctx, ready, stopping)
	if runErr != nil && ctx.Err() != nil {
		res.Interrupted, runErr = true, nil
	}
	env.Finished = time.Now().UTC()
	env.Interrupted = res.Interrupted
	if err := w.WriteEnvironment(env); err != nil {
		return res, errors.Join(runErr, err)
	}
	res.Env = env
	if runErr != nil {
		return res, runErr
	}
	log.finish()
	emulated := map[string]bool{}
	for name, info := range env.Runtimes {
		emulated[name] = info.Emulated
	}
	x.rec.summary.print(opts.Log, opts.Baseline, emulated)
	printStopping(opts.Log, stopping)
	return res, nil
}

// runBenchmarks runs every benchmark's rounds; an error stops the run (a cancelled ctx
// among them).
func (x *execution) runBenchmarks(ctx context.Context, ready []*plannedRuntime, stopping *results.Stopping) error {
	for _, b := range x.plan.benches {
		sched := newSchedule(b.Name(), x.plan.opts, ready, time.Now)
		err := x.runRounds(ctx, sched, func(ctx context.Context, r *plannedRuntime, round int) error {
			return x.runTrial(ctx, b, r, round, sched)
		})
		if stopping != nil {
			stopping.Series = append(stopping.Series, sched.stops...)
		}
		if err != nil {
			return err
		}
		// Samples go to disk unbuffered as measured, so the run directory holds them all.
		if done := x.plan.opts.BenchmarkDone; done != nil {
			done(ctx, x.dir, b.Name())
		}
	}
	return nil
}

// runRounds runs one benchmark's rounds as the schedule hands them out.
func (x *execution) runRounds(ctx context.Context, sched *schedule, trial func(context.Context, *plannedRuntime, int) error) error {
	for {
		round, order, ok := sched.next()
		if !ok {
			return nil
		}
		for _, r := range order {
			if err := ctx.Err(); err != nil {
				sched.interrupted()
				return err
			}
			err := trial(ctx, r, round)
			x.log.step(fmt.Sprintf("%s %s %s", sched.bench, r.profile.Name, trialLabel(round, x.plan.opts.Warmup)))
			if err != nil {
				if ctx.Err() != nil {
					sched.interrupted()
				}
				return err
			}
		}
		sched.roundDone(round)
	}
}

// prepare readies every driver; one that fails is skipped and recorded, the others go on.
// A failed Prepare may have made part of what it makes, so that driver is closed at once;
// the error is what such closes could not remove.
func (p *Plan) prepare(ctx context.Context, env results.Environment, log *progress) ([]*plannedRuntime, error) {
	var ready []*plannedRuntime
	var errs []error
	for _, r := range p.runtimes {
		if err := r.driver.Prepare(ctx, p.img); err != nil {
			p.skipped[r.profile.Name] = "prepare failed: " + err.Error()
			delete(env.Runtimes, r.profile.Name)
			log.linef("skipping %s: %v", r.profile.Name, err)
			errs = append(errs, closeDriver(ctx, r, log))
			continue
		}
		ready = append(ready, r)
	}
	return ready, errors.Join(errs...)
}

// closeDrivers removes what every prepared driver made, also after a cancelled ctx.
func closeDrivers(ctx context.Context, ready []*plannedRuntime, log *progress) error {
	var errs []error
	for _, r := range ready {
		errs = append(errs, closeDriver(ctx, r, log))
	}
	return errors.Join(errs...)
}

// closeDriver removes what r's driver made, also after a cancelled ctx, and says so when
// it cannot.
func closeDriver(ctx context.Context, r *plannedRuntime, log *progress) error {
	if err := r.driver.Close(context.WithoutCancel(ctx)); err != nil {
		log.linef("removing what %s made: %v (run `isobench cleanup`)", r.profile.Name, err)
		return fmt.Errorf("removing what %s made: %w", r.profile.Name, err)
	}
	return nil
}

func (p *Plan) totalTrials() int {
	trials := p.opts.Trials
	if p.opts.Until != nil {
		trials = p.opts.Until.MaxTrials
	}
	return len(p.benches) * len(p.runtimes) * (trials + p.opts.Warmup)
}

// printStopping states the stopping rule and why each series stopped.
func printStopping(w io.Writer, s *results.Stopping) {
	if w == nil || s == nil {
		return
	}
	fmt.Fprintf(w, "\nStopping rule: %s.\n", s.Rule)
	for _, st := range s.Series {
		what := st.Metric
		if what == "" {
			what = "(no series)"
		}
		if len(st.Params) > 0 {
			what += " " + results.ParamsOf(st.Params).String()
		}
		width := "no interval at this n"
		if st.HalfWidth != nil {
			width = fmt.Sprintf("+-%.1f%%", 100**st.HalfWidth)
		} else if st.Low != nil {
			width = fmt.Sprintf("[%s, %s] around a median of 0", fmtValue(*st.Low), fmtValue(*st.High))
		}
		fmt.Fprintf(w, "  %s %s %s: %s after %d trials (n=%d, %s)\n", st.Benchmark, what, st.Runtime, st.Reason, st.Trials, st.N, width)
	}
}
