package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/compare"
)

func init() { addCommand(newCompareCommand) }

func newCompareCommand() *cobra.Command {
	var (
		threshold, runtimes string
		alpha               float64
	)
	cmd := &cobra.Command{
		Use:   "compare OLD NEW | compare --runtimes A,B RUN",
		Short: "A/B comparison of two runs, or of two runtimes within one run",
		Long: `compare prints, per metric, the change of the median from OLD to NEW in %, its 95%
bootstrap interval and a Mann-Whitney p-value; "~" marks a change that is not significant.

With --threshold, the exit status is 1 when a significant change in the worse direction
exceeds it, for CI gating.`,
		Example: `  isobench compare runs/main runs/branch --threshold 5%
  isobench compare --runtimes runc,crun runs/latest`,
		RunE: func(cmd *cobra.Command, args []string) error {
			gate, err := parsePercent(threshold)
			if err != nil {
				return badInput("--threshold %q: %v; give a percentage such as 5%%", threshold, err)
			}
			if alpha <= 0 || alpha >= 1 {
				return badInput("--alpha %g is not a probability; use for example 0.05", alpha)
			}
			opts := compare.Options{Alpha: alpha, Threshold: gate}
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
			if err := compare.Table(cmd.OutOrStdout(), res); err != nil {
				return err
			}
			if regs := res.Regressions(); len(regs) > 0 {
				r := regs[0]
				return &ExitError{Code: 1, Err: fmt.Errorf("%d regression(s) beyond %s, first: %s %s/%s %+.1f%%",
					len(regs), threshold, r.Runtime, r.Benchmark, r.Metric, 100*r.Change)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&threshold, "threshold", "0", "exit 1 when a significant change in the worse direction exceeds this, e.g. 5%")
	f.StringVar(&runtimes, "runtimes", "", "compare runtime B against runtime A within one run: A,B")
	f.Float64Var(&alpha, "alpha", compare.DefaultAlpha, "significance level of the Mann-Whitney test")
	return cmd
}
