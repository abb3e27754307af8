package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/compare"
	"github.com/isobench/isobench/internal/runner"
)

func init() { addCommand(newABCmd) }

// The profiles ab makes; their names are what compare and the report show.
const (
	abOld = "old"
	abNew = "new"
)

func newABCmd() *cobra.Command {
	var (
		rf                runFlags
		base              string
		threshold, format string
	)
	cmd := &cobra.Command{
		Use:   "ab OLD_BINARY NEW_BINARY",
		Short: "A/B of two builds of a runtime in one interleaved run, then their paired comparison",
		Long: `ab runs two profiles that differ only in the runtime binary: "old" (OLD_BINARY) and
"new" (NEW_BINARY), both copies of the --runtime profile (runc by default, or one from
--config). They run in one interleaved run (round k of both is trial k), so slow drift of
the machine falls on both alike; then ab prints compare --runtimes old,new RUN, which
pairs the rounds. With --threshold, the exit status is 1 when compare's gate fails.

Giving the same binary twice is an A/A run: it shows what this machine's noise alone
makes of a comparison.`,
		Example: `  isobench ab /usr/sbin/runc ./runc --bench startup --trials 30
  isobench ab /usr/local/bin/runsc ./runsc --runtime runsc --bench startup,syscall --until-precision 2% --threshold 5%`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			oldBin, err := abBinary("OLD_BINARY", args[0])
			if err != nil {
				return err
			}
			newBin, err := abBinary("NEW_BINARY", args[1])
			if err != nil {
				return err
			}
			if !slices.Contains(compare.Formats, format) {
				return badInput("--format %q: use one of %s", format, strings.Join(compare.Formats, ", "))
			}
			compareArgs := []string{"--runtimes", abOld + "," + abNew, "--format", format}
			if cmd.Flags().Changed("threshold") {
				if _, err := parseFraction(threshold); err != nil {
					return badInput("--threshold %q: %v", threshold, err)
				}
				compareArgs = append(compareArgs, "--threshold", threshold)
			}
			cmp := newCompareCommand()
			if err := cmp.ParseFlags(compareArgs); err != nil {
				return badInput("%v", err)
			}

			opts, err := rf.options(cmd)
			if err != nil {
				return err
			}
			prof, err := opts.Config.Profile(base)
			if err != nil {
				return badInput("--runtime: %v", err)
			}
			for _, name := range []string{abOld, abNew} {
				if _, err := opts.Config.Profile(name); err == nil {
					return badInput("the config already has a runtime named %q, which ab needs for its own profile: rename that one", name)
				}
			}
			for _, ab := range []struct{ name, bin string }{{abOld, oldBin}, {abNew, newBin}} {
				p := prof
				p.Name, p.Binary = ab.name, ab.bin
				p.Description = fmt.Sprintf("%s with %s (isobench ab)", base, ab.bin)
				opts.Config.Runtimes = append(opts.Config.Runtimes, p)
			}
			opts.Runtimes, opts.Baseline = []string{abOld, abNew}, abOld
			check := func(plan *runner.Plan) error {
				info := plan.Runtimes()
				for name, bin := range map[string]string{abOld: oldBin, abNew: newBin} {
					if got := info[name].Binary; got != bin {
						return badInput("runtime %s (driver %s) does not run the binary it is given (it runs %q, not %s): pick a --runtime whose driver takes `binary:`, like runc", base, prof.Driver, got, bin)
					}
				}
				if info[abOld].SHA256 == info[abNew].SHA256 {
					fmt.Fprintf(cmd.ErrOrStderr(), "ab: %s and %s are the same binary (sha256 %s): this is an A/A run\n", oldBin, newBin, info[abOld].SHA256)
				}
				return nil
			}
			res, err := executeRun(cmd, opts, check)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nisobench compare --runtimes %s,%s %s\n", abOld, abNew, res.Dir)
			cmp.SetOut(cmd.OutOrStdout())
			cmp.SetErr(cmd.ErrOrStderr())
			cmp.SetContext(cmd.Context())
			return cmp.RunE(cmp, []string{res.Dir})
		},
	}
	f := cmd.Flags()
	f.StringVar(&base, "runtime", "runc", "runtime profile that both sides copy, with its binary replaced")
	f.StringVar(&threshold, "threshold", "", "compare's gate: exit 1 when a significant change in the worse direction exceeds this (5% or 0.05)")
	f.StringVar(&format, "format", "text", "compare's output: "+strings.Join(compare.Formats, ", "))
	rf.add(f)
	return cmd
}

// abBinary checks a binary given to ab and returns its absolute path.
func abBinary(what, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", badInput("%s %s: %v", what, path, err)
	}
	st, err := os.Stat(abs)
	switch {
	case err != nil:
		return "", badInput("%s %s: %v", what, path, err)
	case !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0:
		return "", badInput("%s %s is not an executable file", what, path)
	case strings.ContainsAny(abs, ",\n"):
		return "", badInput("%s %s: a path with a comma or newline cannot go into a profile", what, path)
	}
	return abs, nil
}
