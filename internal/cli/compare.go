package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/compare"
)

func init() { addCommand(newCompareCommand) }

func newCompareCommand() *cobra.Command {
	var (
		threshold, runtimes, format, maxFailed string
		alpha                                  float64
		allowMissing, wholeInterval            bool
	)
	cmd := &cobra.Command{
		Use:   "compare OLD NEW | compare --runtimes A,B RUN",
		Short: "A/B comparison of two runs, or of two runtimes within one run, and a regression gate",
		Long: `compare prints, per series, the old and new medians with their order-statistic
intervals, the change (Hodges-Lehmann shift relative to the old median) with the 95%
interval of the same rank test that gives the p-value, the ratio of medians, and the
Holm-corrected p-value; "~" marks a change that is not significant. Two runs are
compared with the Mann-Whitney test (exact with ties for small samples); two runtimes
of one interleaved run are paired round by round (Wilcoxon signed-rank).

With --threshold the gate is on and the exit status is 1, with one line per reason,
when a significant change in the worse direction exceeds the threshold, when a series
of OLD is missing in NEW, when NEW's trials failed more often than OLD's, or when the
comparison cannot detect any change at all (too few trials for the number of series).`,
		Example: `  isobench compare runs/main runs/branch --threshold 5%
  isobench compare runs/main runs/branch --threshold 0.05 --whole-interval --format json
  isobench compare --runtimes runc,crun runs/latest`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := compare.Options{Alpha: alpha, AllowMissing: allowMissing, WholeInterval: wholeInterval}
			if cmd.Flags().Changed("threshold") {
				t, err := parseFraction(threshold)
				if err != nil {
					return badInput("--threshold %q: %v", threshold, err)
				}
				opts.Gate, opts.Threshold = true, t
			} else if wholeInterval || allowMissing || cmd.Flags().Changed("max-failed") {
				return badInput("--whole-interval, --allow-missing and --max-failed tune the gate; turn it on with --threshold, e.g. --threshold 5%%")
			}
			mf, err := parseFraction(maxFailed)
			if err != nil || mf > 1 {
				if err == nil {
					err = errors.New("a share of trials is at most 100%")
				}
				return badInput("--max-failed %q: %v", maxFailed, err)
			}
			opts.MaxFailed = mf
			if !(alpha > 0 && alpha < 1) {
				return badInput("--alpha %g is not a probability; use for example 0.05", alpha)
			}
			if !slices.Contains(compare.Formats, format) {
				return badInput("--format %q: use one of %s", format, strings.Join(compare.Formats, ", "))
			}
			var res *compare.Result
			if runtimes != "" {
				pair := strings.Split(runtimes, ",")
				if len(pair) != 2 || pair[0] == "" || pair[1] == "" || len(args) != 1 {
					return badInput("--runtimes takes two runtimes and one run: isobench compare --runtimes A,B RUN")
				}
				res, err = compare.Runtimes(cmd.Context(), args[0], pair[0], pair[1], opts)
			} else {
				if len(args) != 2 {
					return badInput("compare needs two run directories: isobench compare OLD NEW (or --runtimes A,B RUN)")
				}
				res, err = compare.Runs(cmd.Context(), args[0], args[1], opts)
			}
			if errors.Is(err, compare.ErrUnknownRuntime) {
				return badInput("%v: name two runtimes of the run with --runtimes A,B", err)
			}
			if err != nil {
				return resultsInputError(err)
			}
			if err := compare.Write(cmd.OutOrStdout(), res, format); err != nil {
				return fmt.Errorf("writing the comparison: %w", err)
			}
			if len(res.Gate) > 0 {
				if format != "text" {
					for _, g := range res.Gate {
						fmt.Fprintf(cmd.ErrOrStderr(), "GATE FAILED (%s): %s\n", g.Reason, g.Message)
					}
				}
				return &ExitError{Code: 1, Err: fmt.Errorf("gate failed for %d reason(s), each on its own line above", len(res.Gate))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&threshold, "threshold", "", "turn the gate on: exit 1 when a significant change in the worse direction exceeds this (5% and 0.05 are the same)")
	f.BoolVar(&wholeInterval, "whole-interval", false, "gate: a regression needs the whole 95% interval of the change beyond the threshold, not only its estimate")
	f.BoolVar(&allowMissing, "allow-missing", false, "gate: let series of OLD that NEW lacks pass (they are still listed)")
	f.StringVar(&maxFailed, "max-failed", "0", "gate: share of failed trials NEW may have when OLD had fewer (5% or 0.05)")
	f.StringVar(&runtimes, "runtimes", "", "compare runtime B against runtime A within one run, pairing their rounds: A,B")
	f.Float64Var(&alpha, "alpha", compare.DefaultAlpha, "significance level of the verdicts, after Holm's correction over the series (intervals stay 95%)")
	f.StringVar(&format, "format", "text", "output: "+strings.Join(compare.Formats, ", "))
	return cmd
}
