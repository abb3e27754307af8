package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/report"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/safefile"
)

func init() { addCommand(newReportCommand) }

func newReportCommand() *cobra.Command {
	var (
		out, baseline, noise, format, title string
	)
	cmd := &cobra.Command{
		Use:   "report RUN_DIR...",
		Short: "Statistics, tables, charts and an HTML page from one or more run directories",
		Long: `report reads run directories (several merge, for example runs from several hosts,
grouped by host) and writes report.html (self-contained, opens offline), report.csv (tidy),
report.md and charts/*.png|svg into --out, and prints a terminal table.

The page opens with the run's answers: start-up, CPU, memory, network, HTTP and
density, one chart each against the baseline (the reference, --baseline) and two or
three sentences that state a difference only where the rank test finds one; the
engineer's tables follow, folded per benchmark. The terminal gets the same sentences
after the tables.`,
		Example: `  isobench report runs/latest
  isobench report runs/host-a runs/host-b --out paper/results
  isobench report runs/latest --baseline runc --format csv`,
		Args: atLeastOneArg("report needs at least one run directory: isobench report RUN_DIR..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			noiseCV, err := parseFraction(noise)
			if err != nil {
				return badInput("--noise %q: %v", noise, err)
			}
			if out == "" {
				if len(args) == 1 {
					out = filepath.Join(args[0], "report")
				} else {
					out = "isobench-report"
				}
			}
			opts := report.Options{Baseline: baseline, NoiseCV: noiseCV, Title: title}
			sum, err := report.Write(cmd.Context(), args, out, opts)
			if err != nil {
				return resultsInputError(err)
			}
			w := cmd.OutOrStdout()
			switch format {
			case "table":
				err = report.Table(w, sum.Analysis)
			case "csv":
				err = report.CSV(w, sum.Analysis)
			case "md", "markdown":
				err = report.Markdown(w, sum.Analysis)
			case "none":
			default:
				return badInput("--format %q is unknown; use table, csv, md or none", format)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "report: %s (%d samples, %d series, %d charts)\n", sum.HTML, sum.Samples, sum.Series, len(sum.Charts)/2)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "directory for report.html, report.csv, report.md and charts/ (default RUN_DIR/report, or ./isobench-report for several runs)")
	f.StringVar(&baseline, "baseline", "", "runtime every other is compared with (default: the run's baseline, else host)")
	f.StringVar(&noise, "noise", "10%", "flag series whose coefficient of variation is above this")
	f.StringVar(&format, "format", "table", "what to print on stdout: table, csv, md or none")
	f.StringVar(&title, "title", "", "title of the HTML and Markdown reports")
	return cmd
}

// resultsInputError turns input that is not a readable run into exit status 2.
func resultsInputError(err error) error {
	var ne *results.NotResultsError
	switch {
	case errors.As(err, &ne):
		return badInput("%v; give a directory written by `isobench run`", err)
	case results.IsInputError(err):
		return badInput("%v", err)
	case errors.Is(err, os.ErrNotExist):
		return badInput("%v", err)
	case errors.Is(err, safefile.ErrSymlink):
		return badInput("%v; remove it or give --out a directory of your own", err)
	}
	return err
}
