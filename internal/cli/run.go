package cli

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runner"
)

func init() { addCommand(newRunCmd) }

// runFlags are the flags of `isobench run`; `isobench ab` shares those that do not pick runtimes.
type runFlags struct {
	benches, imageName, out string
	trials, warmup          int
	quick                   bool
	timeout                 time.Duration
	memoryBudget            string
	untilPrecision          string
	maxTrials               int
	maxTime                 time.Duration
	labels                  []string
}

// add defines the flags on f.
func (rf *runFlags) add(f *pflag.FlagSet) {
	f.StringVar(&rf.benches, "bench", "startup,cpu,memory,network,http", "comma-separated benchmarks (see isobench list); the default is the thesis's set")
	f.IntVar(&rf.trials, "trials", 0, fmt.Sprintf("measured trials per runtime and benchmark (default %d, or %d with --quick); with --until-precision the first look", runner.DefaultTrials, runner.QuickTrials))
	f.IntVar(&rf.warmup, "warmup", runner.DefaultWarmup, "unrecorded warm-up trials per runtime and benchmark")
	f.StringVar(&rf.out, "out", "", "run directory (default runs/<time>-<id>)")
	f.StringVar(&rf.imageName, "image", image.DefaultName, "image to run (see isobench image ls)")
	f.BoolVar(&rf.quick, "quick", false, "short benchmark settings, for tests and first tries")
	f.DurationVar(&rf.timeout, "timeout", 0, fmt.Sprintf("limit for one trial (default %s, or %s with --quick)", shortDuration(runner.DefaultTimeout), shortDuration(runner.QuickTimeout)))
	f.StringVar(&rf.memoryBudget, "memory-budget", "", "most host memory the density benchmark may take, like 4GiB (default: half of MemAvailable)")
	f.StringVar(&rf.untilPrecision, "until-precision", "", "add interleaved rounds until every series' median is known to within this, like 2% (see docs/results.md, stopping)")
	f.IntVar(&rf.maxTrials, "max-trials", 0, fmt.Sprintf("with --until-precision: most measured trials per runtime and benchmark (default %d)", runner.DefaultMaxTrials))
	f.DurationVar(&rf.maxTime, "max-time", 0, "with --until-precision: most time the measured rounds of one benchmark may take, like 20m (default no limit)")
	f.StringArrayVar(&rf.labels, "label", nil, "NAME=VALUE recorded in the run, for isobench history report --by NAME, e.g. runc-commit=1a2b3c (repeatable)")
}

// shortDuration prints 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	for _, zero := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, zero) {
			s = s[:len(s)-2]
		}
	}
	return s
}

// options turns the flags into runner options; bad values are exit-2 errors.
func (rf *runFlags) options(cmd *cobra.Command) (runner.Options, error) {
	cfg, err := loadConfig()
	if err != nil {
		return runner.Options{}, err
	}
	budget, err := parseSize(rf.memoryBudget)
	if err != nil {
		return runner.Options{}, badInput("--memory-budget: %v", err)
	}
	labels, err := parseLabels(rf.labels)
	if err != nil {
		return runner.Options{}, err
	}
	opts := runner.Options{
		Benches: splitList(rf.benches), Trials: rf.trials, Warmup: rf.warmup, OutDir: rf.out,
		Quick: rf.quick, Timeout: rf.timeout, MemoryBudget: budget, Image: rf.imageName, Config: cfg, Home: home(),
		Log: cmd.ErrOrStderr(), Progress: term.IsTerminal(int(os.Stderr.Fd())), Labels: labels,
	}
	switch {
	case rf.untilPrecision != "":
		p, err := parseFraction(rf.untilPrecision)
		if err != nil {
			return opts, badInput("--until-precision %q: %v", rf.untilPrecision, err)
		}
		opts.Until = &runner.StopRule{Precision: p, MaxTrials: rf.maxTrials, MaxTime: rf.maxTime}
	case rf.maxTrials != 0 || rf.maxTime != 0:
		return opts, badInput("--max-trials and --max-time bound --until-precision: add --until-precision 2%% (or use --trials alone)")
	}
	return opts, nil
}

// executeRun plans and runs; it prints where the results are and writes the report.
// check, if set, may refuse the plan before anything runs.
func executeRun(cmd *cobra.Command, opts runner.Options, check func(*runner.Plan) error) (*runner.Result, error) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The report grows as benchmarks finish: a first look long before the run ends.
	opts.BenchmarkDone = func(ctx context.Context, dir, bench string) {
		t0 := time.Now()
		path, err := writeRunReport(context.WithoutCancel(ctx), dir, opts.Baseline)
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "isobench: writing the report after %s: %v\n", bench, err)
			return
		}
		fmt.Fprintf(cmd.OutOrStdout(), "report so far (%s done, written in %s): %s\n", bench, time.Since(t0).Round(10*time.Millisecond), path)
	}
	plan, err := runner.NewPlan(ctx, opts)
	if err != nil {
		return nil, asExit(err)
	}
	if check != nil {
		if err := check(plan); err != nil {
			return nil, err
		}
	}
	for name, why := range plan.Skipped() {
		fmt.Fprintf(cmd.ErrOrStderr(), "skipping %s: %s\n", name, why)
	}
	res, err := plan.Execute(ctx)
	if res != nil {
		abs, aerr := filepath.Abs(res.Dir)
		if aerr != nil {
			abs = res.Dir
		}
		fmt.Fprintf(cmd.OutOrStdout(), "results: %s (%d samples, %d failed trials)\n", abs, res.Samples, res.Failures)
		if err == nil && !res.Interrupted {
			t0 := time.Now()
			if path, rerr := writeRunReport(context.WithoutCancel(ctx), res.Dir, opts.Baseline); rerr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "isobench: writing the report: %v\n", rerr)
			} else if path != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "report: %s (written in %s)\n", path, time.Since(t0).Round(10*time.Millisecond))
			}
		}
	}
	if err != nil {
		return res, asExit(err)
	}
	if res.Interrupted {
		return res, &ExitError{Code: 130, Err: fmt.Errorf("interrupted: the samples measured so far are in %s", res.Dir)}
	}
	if res.CleanupErr != nil {
		return res, fmt.Errorf("the measurements are complete, but %w; run isobench cleanup", res.CleanupErr)
	}
	return res, nil
}

func newRunCmd() *cobra.Command {
	var (
		rf                 runFlags
		runtimes, baseline string
		skipUnusable       bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run benchmarks under several runtimes and record every sample",
		Long: `Run benchmarks on the same image under several runtimes. Trials interleave the
runtimes in rounds (round-robin, order rotated each round): trial k of every runtime is
round k. Every sample is appended to samples.jsonl as it is measured; failures go to
failures.jsonl; raw outputs to raw/.

With --until-precision, rounds continue after --trials until each runtime's series all
have a median interval within the given precision, or --max-trials / --max-time is
reached; the rule looks only at fixed checkpoints and widens its intervals for the
number of looks, and environment.json records why each series stopped.`,
		Example: `  isobench run --bench startup --trials 30
  isobench run --runtimes host,runc,runsc --bench cpu,memory --quick
  isobench run --runtimes runc,crun --bench startup --until-precision 2% --max-trials 100 --max-time 20m
  isobench run --config my.yaml --runtimes runc,runc-dev --bench startup --out runs/ab`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := rf.options(cmd)
			if err != nil {
				return err
			}
			opts.Runtimes, opts.SkipUnusable, opts.Baseline = splitList(runtimes), skipUnusable, baseline
			_, err = executeRun(cmd, opts, nil)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&runtimes, "runtimes", "", "comma-separated runtime profiles (default: every usable one; see isobench doctor)")
	f.BoolVar(&skipUnusable, "skip-unusable", false, "skip named runtimes that cannot run here (recorded with the reason) instead of stopping")
	f.StringVar(&baseline, "baseline", "host", "runtime that ratios are relative to")
	rf.add(f)
	return cmd
}

// parseSize reads sizes like 512MiB, 4GiB, 4G or a number of bytes; "" is 0.
func parseSize(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	num, mult := s, uint64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	// !(v > 0) refuses NaN too; a size beyond 2^63 bytes does not convert to an integer.
	if err != nil || !(v > 0) || v*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size like 4GiB or 512MiB", s)
	}
	return uint64(v * float64(mult)), nil
}
