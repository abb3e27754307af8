package cli

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/changepoint"
	"github.com/isobench/isobench/internal/history"
	"github.com/isobench/isobench/internal/report"
)

func init() { addCommand(newHistoryCommand) }

func newHistoryCommand() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Keep runs in a database and show each metric's course over them, with change points",
		Long: `history keeps runs in a database: by default a SQLite file in the isobench home
(<home>/history.db), or a PostgreSQL server a team shares (--db postgres://...).

  history add RUN_DIR...   store runs (the same run added again changes nothing)
  history report           draw every metric's course over the runs and mark where it changed
  history list             the stored runs
  history remove RUN_ID    forget a run`,
		Example: `  isobench history add runs/*
  isobench history report --out history-report
  isobench history report --by commit --bench startup
  isobench history add runs/nightly --db postgres://bench@db.example/isobench --label kernel-tree=next`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return badInput("unknown history command %q: use add, report, list or remove", args[0])
			}
			return badInput("history needs a command: add, report, list or remove (see `isobench history --help`)")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", "database: a SQLite file, or postgres://user@host/dbname (default <home>/"+history.DefaultFile+")")
	openDB := func(cmd *cobra.Command) (*history.Store, error) {
		target := db
		if target == "" {
			target = filepath.Join(home(), history.DefaultFile)
		}
		return history.Open(cmd.Context(), target)
	}
	cmd.AddCommand(newHistoryAdd(openDB), newHistoryReport(openDB), newHistoryList(openDB), newHistoryRemove(openDB))
	return cmd
}

type storeOpener func(*cobra.Command) (*history.Store, error)

// storedRuns opens the history and lists its runs; the caller closes the store.
func storedRuns(cmd *cobra.Command, openDB storeOpener) (*history.Store, []history.RunInfo, error) {
	s, err := openDB(cmd)
	if err != nil {
		return nil, nil, err
	}
	runs, err := s.Runs(cmd.Context())
	if err != nil {
		return nil, nil, errors.Join(err, s.Close())
	}
	return s, runs, nil
}

func newHistoryAdd(openDB storeOpener) *cobra.Command {
	var labels []string
	cmd := &cobra.Command{
		Use:   "add RUN_DIR...",
		Short: "Store runs in the history",
		Long: `add reads each run directory (written by isobench run, finished), checks it, and stores
its samples in the history. A run is known by its run id and the digest of its files:
adding it again changes nothing; a different run under the same id is refused.`,
		Example: `  isobench history add runs/20250102T030405-1a2b3c4d
  isobench history add runs/* --label branch=main`,
		Args: atLeastOneArg("history add needs at least one run directory: isobench history add RUN_DIR..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			lm, err := parseLabels(labels)
			if err != nil {
				return err
			}
			s, err := openDB(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			out := cmd.OutOrStdout()
			var firstBad error
			bad := 0
			for _, dir := range args {
				run, err := history.ReadRun(dir)
				if err == nil {
					var res history.AddResult
					res, err = s.Add(cmd.Context(), run, lm)
					if err == nil {
						if res.Added {
							fmt.Fprintf(out, "added %s (%d series) from %s\n", res.RunID, res.Series, dir)
						} else {
							fmt.Fprintf(out, "unchanged %s: already in the history\n", res.RunID)
						}
						continue
					}
				}
				var ce *history.ConflictError
				if !history.IsInputError(err) && !errors.As(err, &ce) {
					return err
				}
				bad++
				fmt.Fprintf(cmd.ErrOrStderr(), "isobench: not added: %v\n", err)
				if firstBad == nil {
					firstBad = err
				}
			}
			if firstBad != nil {
				return badInput("%d of %d run(s) not added, first: %v", bad, len(args), firstBad)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&labels, "label", nil, "NAME=VALUE stored with the runs beside those the runs recorded, for history report --by NAME (repeatable)")
	return cmd
}

func newHistoryReport(openDB storeOpener) *cobra.Command {
	var (
		out, by, benches, metrics, runtimes, hosts, title string
		alpha                                             float64
		permutations                                      int
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Draw each metric's course over the stored runs and mark its change points",
		Long: `report draws, per metric, a line per runtime through the medians of the stored runs
(with 95% intervals), ordered by run start time or by a label (--by commit,
--by runtime-version, --by kernel, --by isobench, or a label given to history add; runs
sharing a value are pooled). Change points are found by E-divisive means with a seeded
permutation test; the page lists them, worst first, with the runs on either side and the
isobench compare command that looks at them closely. The page opens offline.`,
		Example: `  isobench history report
  isobench history report --by runtime-version --runtimes runc,crun --out runc-history`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !(alpha > 0 && alpha < 1) { // NaN fails this too
				return badInput("--alpha %g is not a probability; use for example 0.005", alpha)
			}
			if permutations < 19 || permutations > 100000 {
				return badInput("--permutations %d: use between 19 and 100000", permutations)
			}
			if by == "" {
				return badInput("--by needs time or a label name")
			}
			s, runs, err := storedRuns(cmd, openDB)
			if err != nil {
				return err
			}
			defer s.Close()
			if len(runs) == 0 {
				return badInput("history %s holds no runs; add some with isobench history add RUN_DIR...", s.Where)
			}
			if by != history.ByTime {
				if _, ok := history.BuiltinLabels()[by]; !ok && !anyRunHas(runs, by) {
					return badInput("--by %q: no run has that label; use time, %s", by, strings.Join(knownLabels(runs), ", "))
				}
			}
			points, err := s.Points(cmd.Context(), history.Filter{Benchmarks: splitList(benches), Metrics: splitList(metrics),
				Runtimes: splitList(runtimes), Hosts: splitList(hosts)})
			if err != nil {
				return err
			}
			if len(points) == 0 {
				return badInput("no stored series match --bench %q --metric %q --runtimes %q --hosts %q", benches, metrics, runtimes, hosts)
			}
			opts := changepoint.Options{Alpha: alpha, Permutations: permutations}
			courses, notes, err := history.Courses(runs, points, by, opts)
			if err != nil {
				return err
			}
			if out == "" {
				out = "isobench-history"
			}
			sum, err := report.WriteHistory(cmd.Context(), runs, courses, notes, out,
				report.HistoryOptions{Title: title, By: by, Where: s.Where, ChangePoint: opts})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d runs, %d series, %d change point(s)\n", len(runs), sum.Courses, sum.Changes)
			for _, c := range courses {
				for _, ch := range c.Changes {
					word := "better"
					if ch.Worse(c.Better) {
						word = "worse"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "  %s %s: %+.1f%% (%s) between %s and %s (p=%.3f)\n", c.Runtime, c.Title(),
						100*(ch.Ratio-1), word, ch.BeforeRun.ID, ch.AfterRun.ID, ch.P)
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "history report: %s\n", sum.HTML)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "directory for history.html and charts/ (default ./isobench-history)")
	f.StringVar(&by, "by", history.ByTime, "order runs by time, or by a label: commit, isobench, kernel, runtime-version, or one given to history add")
	f.StringVar(&benches, "bench", "", "only these benchmarks (comma-separated)")
	f.StringVar(&metrics, "metric", "", "only these metrics (comma-separated)")
	f.StringVar(&runtimes, "runtimes", "", "only these runtimes (comma-separated)")
	f.StringVar(&hosts, "hosts", "", "only these hosts (comma-separated)")
	f.StringVar(&title, "title", "", "title of the page")
	f.Float64Var(&alpha, "alpha", changepoint.DefaultAlpha, "significance level of each change point's permutation test")
	f.IntVar(&permutations, "permutations", changepoint.DefaultPermutations, "shuffles per permutation test")
	return cmd
}

func anyRunHas(runs []history.RunInfo, label string) bool {
	for _, r := range runs {
		if _, ok := r.Labels[label]; ok {
			return true
		}
	}
	return false
}

func knownLabels(runs []history.RunInfo) []string {
	set := map[string]bool{}
	for k := range history.BuiltinLabels() {
		set[k] = true
	}
	for _, r := range runs {
		for k := range r.Labels {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func newHistoryList(openDB storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the stored runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, runs, err := storedRuns(cmd, openDB)
			if err != nil {
				return err
			}
			defer s.Close()
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d runs in %s\n", len(runs), s.Where)
			for _, r := range runs {
				var kv []string
				for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
					kv = append(kv, k+"="+r.Labels[k])
				}
				fmt.Fprintf(w, "%s  %s  %s  %s\n", r.ID, r.Started.Format("2006-01-02 15:04"), r.Dir, strings.Join(kv, ","))
			}
			return nil
		},
	}
}

func newHistoryRemove(openDB storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "remove RUN_ID...",
		Short: "Forget stored runs",
		Args:  atLeastOneArg("history remove needs run ids (see isobench history list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openDB(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			for _, id := range args {
				if err := s.Remove(cmd.Context(), id); err != nil {
					if errors.Is(err, history.ErrNoRun) {
						return badInput("%v (see isobench history list)", err)
					}
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", id)
			}
			return nil
		},
	}
}
