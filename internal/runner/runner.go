// Package runner carries out a run: it resolves runtime profiles and benchmarks, prepares
// the drivers, runs interleaved trials with timeouts, records every sample and failure as
// it is measured, and removes everything it made, also when interrupted.
package runner

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/config"
	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/version"
)

// Options configure a run.
type Options struct {
	// Runtimes are profile names; empty means every usable profile.
	Runtimes []string
	// SkipUnusable skips named runtimes that cannot run here instead of refusing the run.
	SkipUnusable bool
	Benches      []string
	Trials       int
	Warmup       int
	// OutDir is the run directory; empty makes runs/<time>-<id>.
	OutDir   string
	Baseline string
	Quick    bool
	// Timeout bounds one trial; zero picks 2 minutes (quick) or 10 minutes.
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
}

type plannedRuntime struct {
	profile runtime.Profile
	driver  runtime.Driver
	status  runtime.Status
}

// Plan is a checked run, ready to execute.
type Plan struct {
	opts     Options
	runID    string
	img      *image.Image
	rootfs   string
	benches  []bench.Benchmark
	runtimes []*plannedRuntime
	skipped  map[string]string
	probe    string
	env      runtime.Env
}

// NewPlan checks everything a run needs before anything is written: profiles, drivers,
// benchmarks, the image and its tools, the probe binary.
func NewPlan(ctx context.Context, opts Options) (*Plan, error) {
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	if opts.Trials < 1 {
		return nil, inputErr("--trials must be at least 1")
	}
	if opts.Warmup < 0 {
		return nil, inputErr("--warmup cannot be negative")
	}
	if os.Geteuid() != 0 {
		return nil, inputErr("isobench run needs root (containers, mounts, namespaces): run it with sudo")
	}
	p := &Plan{opts: opts, runID: newRunID(), skipped: map[string]string{}}
	subnet, err := netip.ParsePrefix(opts.Config.Network.Subnet)
	if err != nil {
		return nil, inputErr("network.subnet %q is not a prefix like %s", opts.Config.Network.Subnet, config.DefaultSubnet)
	}
	p.env = runtime.Env{Home: opts.Home, Subnet: subnet}

	if len(opts.Benches) == 0 {
		return nil, inputErr("no benchmark given: use --bench startup (see `isobench list`)")
	}
	for _, name := range opts.Benches {
		b, err := bench.Get(name)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		p.benches = append(p.benches, b)
	}

	store, err := image.Open(opts.Home)
	if err != nil {
		return nil, fmt.Errorf("opening image store: %w", err)
	}
	p.img, err = store.Get(opts.Image)
	if err != nil {
		return nil, &InputError{Err: err}
	}

	explicit := len(opts.Runtimes) > 0
	names := opts.Runtimes
	if !explicit {
		for _, prof := range opts.Config.Profiles() {
			names = append(names, prof.Name)
		}
	}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			return nil, inputErr("runtime %q is given twice in --runtimes", name)
		}
		seen[name] = true
		prof, err := opts.Config.Profile(name)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		d, err := runtime.New(prof, p.env)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		st := d.Check(ctx)
		if !st.Usable {
			if explicit && !opts.SkipUnusable {
				return nil, inputErr("runtime %s cannot run here: %s; fix: %s (or pass --skip-unusable)", name, st.Problem, st.Fix)
			}
			p.skipped[name] = fmt.Sprintf("%s; fix: %s", st.Problem, st.Fix)
			continue
		}
		p.runtimes = append(p.runtimes, &plannedRuntime{profile: prof, driver: d, status: st})
	}
	if len(p.runtimes) == 0 {
		var why []string
		for n, r := range p.skipped {
			why = append(why, n+": "+r)
		}
		return nil, inputErr("no usable runtime: %s (see `isobench doctor`)", strings.Join(why, "; "))
	}

	p.rootfs, err = p.img.RootFS(ctx)
	if err != nil {
		return nil, fmt.Errorf("unpacking image %s: %w", p.img.Name, err)
	}
	for _, b := range p.benches {
		for _, tool := range b.Tools() {
			ok, err := p.img.HasTool(ctx, tool)
			if err != nil {
				return nil, fmt.Errorf("looking for %s in image %s: %w", tool, p.img.Name, err)
			}
			if !ok {
				return nil, inputErr("benchmark %s needs %s, which image %q lacks: use the default image (isobench image build) or import one that has it", b.Name(), tool, p.img.Name)
			}
		}
	}
	p.probe, err = staticSelf()
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Skipped lists the runtimes left out, with the reason.
func (p *Plan) Skipped() map[string]string { return p.skipped }

// staticSelf returns the path of this binary, which containers run as the probe; it must
// be static because the image has none of the host's libraries.
func staticSelf() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the isobench binary: %w", err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", exe, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", inputErr("%s is dynamically linked, but containers run it as their probe: build it with CGO_ENABLED=0 go build ./cmd/isobench", exe)
		}
	}
	return exe, nil
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// Execute runs the plan. A cancelled ctx (SIGINT, SIGTERM) ends the run after the trial in
// flight is torn down; everything measured until then stays on disk.
func (p *Plan) Execute(ctx context.Context) (*Result, error) {
	opts := p.opts
	dir := opts.OutDir
	if dir == "" {
		dir = filepath.Join("runs", p.runID)
	}
	w, err := results.Create(dir)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	defer w.Close()
	res := &Result{Dir: dir}
	host, _ := os.Hostname()
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
	}
	for _, r := range p.runtimes {
		env.Runtimes[r.profile.Name] = runtimeInfo(r)
	}
	if err := w.WriteEnvironment(env); err != nil {
		return nil, err
	}
	log := newProgress(opts.Log, opts.Progress, p.totalTrials())
	defer log.finish()

	// Prepare every driver; one that fails is skipped, the others go on.
	var ready []*plannedRuntime
	for _, r := range p.runtimes {
		if err := r.driver.Prepare(ctx, p.img); err != nil {
			p.skipped[r.profile.Name] = "prepare failed: " + err.Error()
			delete(env.Runtimes, r.profile.Name)
			log.linef("skipping %s: %v", r.profile.Name, err)
			continue
		}
		defer r.driver.Close(context.WithoutCancel(ctx))
		ready = append(ready, r)
	}

	var counter atomic.Int64
	newID := func(profile string) func() string {
		return func() string {
			return fmt.Sprintf("%s%s-%s-%d", runtime.NamePrefix, p.runID[len(p.runID)-8:], profile, counter.Add(1))
		}
	}
	summary := newSummary()

	for _, b := range p.benches {
		metrics := map[string]bench.Metric{}
		for _, m := range b.Metrics() {
			metrics[m.Name] = m
		}
		timeout := opts.Timeout
		if timeout == 0 {
			timeout = 10 * time.Minute
			if opts.Quick {
				timeout = 2 * time.Minute
			}
		}
		for round := 1 - opts.Warmup; round <= opts.Trials; round++ {
			warm := round < 1
			for _, r := range rotate(ready, round+opts.Warmup-1) {
				if ctx.Err() != nil {
					res.Interrupted = true
					break
				}
				name := r.profile.Name
				label := fmt.Sprintf("trial-%d", round)
				if warm {
					label = fmt.Sprintf("warmup-%d", round+opts.Warmup)
				}
				raw := filepath.Join(dir, results.RawDir, name, b.Name(), label)
				if err := os.MkdirAll(raw, 0o755); err != nil {
					return res, fmt.Errorf("making raw directory: %w", err)
				}
				var emitErr error
				var trial *bench.Trial
				trial = &bench.Trial{
					Driver: r.driver, Image: p.img, RootFS: p.rootfs, Runtime: name,
					Index: max(round, 0), Warmup: warm, Quick: opts.Quick,
					Settings: opts.Config.BenchSettings(b.Name()),
					RawDir:   raw, RunDir: dir, NewID: newID(name), Probe: p.probe, MemoryBudget: opts.MemoryBudget,
					Logf: log.linef,
					Info: map[string]string{},
					Emit: func(metric string, value float64, params map[string]string) {
						if warm || emitErr != nil {
							return
						}
						m, ok := metrics[metric]
						if !ok {
							emitErr = fmt.Errorf("benchmark %s emitted unknown metric %q", b.Name(), metric)
							return
						}
						s := results.Sample{RunID: p.runID, Host: host, Runtime: name, Benchmark: b.Name(),
							Metric: metric, Unit: m.Unit, Better: m.Better, Value: value, Trial: round,
							Time: time.Now().UTC(), Params: params, Info: maps.Clone(trial.Info)}
						if len(s.Info) == 0 {
							s.Info = nil
						}
						if err := w.AddSample(s); err != nil {
							emitErr = err
							return
						}
						res.Samples++
						summary.add(s)
					},
				}
				tctx, cancel := context.WithTimeout(ctx, timeout)
				err := b.Run(tctx, trial)
				timedOut := tctx.Err() == context.DeadlineExceeded
				cancel()
				if err == nil {
					err = emitErr
				}
				if err != nil {
					if ctx.Err() != nil {
						res.Interrupted = true
						break
					}
					if timedOut {
						err = fmt.Errorf("trial timed out after %s: %w", timeout, err)
					}
					rel, _ := filepath.Rel(dir, raw)
					_ = w.AddFailure(results.Failure{RunID: p.runID, Host: host, Runtime: name, Benchmark: b.Name(),
						Trial: round, Time: time.Now().UTC(), Error: err.Error(), Stderr: bench.StderrOf(err), RawPath: rel})
					_ = os.WriteFile(filepath.Join(raw, "error"), []byte(err.Error()+"\n"+bench.StderrOf(err)), 0o644)
					res.Failures++
					summary.fail(name, b.Name())
					log.linef("%s %s %s failed: %v", b.Name(), name, label, oneLine(err.Error()))
				}
				log.step(fmt.Sprintf("%s %s %s", b.Name(), name, label))
			}
			if res.Interrupted {
				break
			}
		}
		if res.Interrupted {
			break
		}
	}
	env.Finished = time.Now().UTC()
	env.Interrupted = res.Interrupted
	if err := w.WriteEnvironment(env); err != nil {
		return res, err
	}
	res.Env = env
	log.finish()
	emulated := map[string]bool{}
	for name, info := range env.Runtimes {
		emulated[name] = info.Emulated
	}
	summary.print(opts.Log, opts.Baseline, emulated)
	return res, nil
}

func (p *Plan) totalTrials() int {
	return len(p.benches) * len(p.runtimes) * (p.opts.Trials + p.opts.Warmup)
}

func runtimeInfo(r *plannedRuntime) results.RuntimeInfo {
	return results.RuntimeInfo{
		Profile: r.profile.Name, Driver: r.profile.Driver, Class: string(r.status.Class),
		Binary: r.status.Binary, SHA256: r.status.SHA256, Version: r.status.Version,
		Emulated: r.status.Emulated, Options: r.status.Options,
	}
}

// rotate starts the round-robin order at a different runtime each round, so slow drift
// of the machine favours none.
func rotate[T any](xs []T, round int) []T {
	if len(xs) == 0 {
		return nil
	}
	k := ((round % len(xs)) + len(xs)) % len(xs)
	return append(append([]T(nil), xs[k:]...), xs[:k]...)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// ErrInterrupted is returned by the CLI when a run was cut short by a signal.
var ErrInterrupted = errors.New("run interrupted")
