package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runner"
)

func init() { addCommand(newRunCmd) }

func newRunCmd() *cobra.Command {
	var (
		runtimes, benches, imageName, out, baseline string
		trials, warmup                              int
		quick                                       bool
		timeout                                     time.Duration
		memoryBudget                                string
		skipUnusable                                bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run benchmarks under several runtimes and record every sample",
		Long: `Run benchmarks on the same image under several runtimes. Trials interleave the
runtimes (round-robin, order rotated each round). Every sample is appended to
samples.jsonl as it is measured; failures go to failures.jsonl; raw outputs to raw/.`,
		Example: `  isobench run --bench startup --trials 30
  isobench run --runtimes host,runc,runsc --bench cpu,memory --quick
  isobench run --config my.yaml --runtimes runc,runc-dev --bench startup --out runs/ab`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if trials == 0 {
				trials = 10
				if quick {
					trials = 3
				}
			}
			if warmup < 0 {
				warmup = 1
			}
			budget, err := parseSize(memoryBudget)
			if err != nil {
				return badInput("--memory-budget: %v", err)
			}
			opts := runner.Options{
				Runtimes: splitList(runtimes), SkipUnusable: skipUnusable, Benches: splitList(benches),
				Trials: trials, Warmup: warmup, OutDir: out, Baseline: baseline,
				Quick: quick, Timeout: timeout, MemoryBudget: budget, Image: imageName, Config: cfg, Home: home(),
				Log: cmd.ErrOrStderr(), Progress: term.IsTerminal(int(os.Stderr.Fd())),
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			plan, err := runner.NewPlan(ctx, opts)
			if err != nil {
				return asExit(err)
			}
			for name, why := range plan.Skipped() {
				fmt.Fprintf(cmd.ErrOrStderr(), "skipping %s: %s\n", name, why)
			}
			res, err := plan.Execute(ctx)
			if res != nil {
				abs, _ := filepath.Abs(res.Dir)
				fmt.Fprintf(cmd.OutOrStdout(), "results: %s (%d samples, %d failed trials)\n", abs, res.Samples, res.Failures)
				if err == nil && !res.Interrupted {
					if path, rerr := writeRunReport(context.WithoutCancel(ctx), res.Dir, baseline); rerr != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "isobench: writing the report: %v\n", rerr)
					} else if path != "" {
						fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", path)
					}
				}
			}
			if err != nil {
				return asExit(err)
			}
			if res.Interrupted {
				return &ExitError{Code: 130, Err: fmt.Errorf("interrupted: the samples measured so far are in %s", res.Dir)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runtimes, "runtimes", "", "comma-separated runtime profiles (default: every usable one; see `isobench doctor`)")
	f.BoolVar(&skipUnusable, "skip-unusable", false, "skip named runtimes that cannot run here (recorded with the reason) instead of stopping")
	f.StringVar(&benches, "bench", "startup,cpu,memory,network,http", "comma-separated benchmarks (see `isobench list`); the default is the thesis's set")
	f.IntVar(&trials, "trials", 0, "measured trials per runtime and benchmark (default 10, or 3 with --quick)")
	f.IntVar(&warmup, "warmup", -1, "unrecorded warm-up trials per runtime and benchmark (default 1)")
	f.StringVar(&out, "out", "", "run directory (default runs/<time>-<id>)")
	f.StringVar(&baseline, "baseline", "host", "runtime that ratios are relative to")
	f.StringVar(&imageName, "image", image.DefaultName, "image to run (see `isobench image ls`)")
	f.BoolVar(&quick, "quick", false, "short benchmark settings, for tests and first tries")
	f.DurationVar(&timeout, "timeout", 0, "limit for one trial (default 10m, or 2m with --quick)")
	f.StringVar(&memoryBudget, "memory-budget", "", "most host memory the density benchmark may take, like 4GiB (default: half of MemAvailable)")
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
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size like 4GiB or 512MiB", s)
	}
	return uint64(v * float64(mult)), nil
}
