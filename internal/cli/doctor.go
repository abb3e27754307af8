package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

func init() { addCommand(newDoctorCmd) }

// doctorRow is one runtime profile as doctor found it.
type doctorRow struct {
	Profile runtime.Profile `json:"profile"`
	Status  runtime.Status  `json:"status"`
}

func newDoctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Show which runtimes are usable here, how to fix the others, and the host facts that skew results",
		Long: `Check every known runtime profile (built-in and from --config): found or not,
version, binary path and sha256, usable or not, and the exact fix for each missing or
broken one. Then the host facts that skew results. Exits 0 when at least one runtime
is usable.`,
		Example: `  isobench doctor
  isobench doctor --config my.yaml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			env := runtime.Env{Home: home()}
			var rows []doctorRow
			usable := 0
			for _, p := range cfg.Profiles() {
				d, err := runtime.New(p, env)
				var st runtime.Status
				if err != nil {
					st = runtime.Status{Problem: err.Error(), Fix: "correct the profile in the config file"}
				} else {
					st = d.Check(ctx)
				}
				if st.Usable {
					usable++
				}
				rows = append(rows, doctorRow{Profile: p, Status: st})
			}
			facts := hostinfo.Collect(ctx)
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"runtimes": rows, "host": facts}); err != nil {
					return err
				}
			} else {
				printDoctor(w, rows, facts)
			}
			if os.Geteuid() != 0 {
				fmt.Fprintln(w, "\nnote: not root; `isobench run` needs root")
			}
			if usable == 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("no usable runtime: apply one of the fixes above")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	return cmd
}

func printDoctor(w interface{ Write([]byte) (int, error) }, rows []doctorRow, f results.HostFacts) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var notes []string
	fmt.Fprintln(tw, "RUNTIME\tDRIVER\tCLASS\tFOUND\tUSABLE\tVERSION\tBINARY\tSHA256\tOPTIONS")
	for _, r := range rows {
		sha := r.Status.SHA256
		if len(sha) > 16 {
			sha = sha[:16]
		}
		var opts []string
		for _, k := range slices.Sorted(maps.Keys(r.Status.Options)) {
			v := r.Status.Options[k]
			if len(v) > 24 {
				// Long explanations go below the table.
				notes = append(notes, fmt.Sprintf("  %s: %s: %s", r.Profile.Name, k, v))
				v = "(see notes)"
			}
			opts = append(opts, k+"="+v)
		}
		if r.Status.Emulated {
			opts = append(opts, "EMULATED")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Profile.Name, r.Profile.Driver, dash(string(r.Status.Class)),
			yesNo(r.Status.Found), yesNo(r.Status.Usable), dash(r.Status.Version), dash(r.Status.Binary), dash(sha), dash(strings.Join(opts, ",")))
	}
	tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		fmt.Fprintln(w, strings.Join(notes, "\n"))
	}
	var fixes []string
	for _, r := range rows {
		if !r.Status.Usable {
			fixes = append(fixes, fmt.Sprintf("  %s: %s\n    fix: %s", r.Profile.Name, r.Status.Problem, r.Status.Fix))
		}
	}
	if len(fixes) > 0 {
		fmt.Fprintln(w, "\nnot usable:")
		fmt.Fprintln(w, strings.Join(fixes, "\n"))
	}
	fmt.Fprintln(w, "\nhost:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	hyper := "none (bare metal)"
	if f.Virtualized {
		hyper = "yes: " + f.Hypervisor + " (VM numbers are nested and skewed)"
	}
	for _, kv := range [][2]string{
		{"kernel", f.Kernel}, {"os", f.OS}, {"cpu", fmt.Sprintf("%s, %d cores", f.CPUModel, f.Cores)},
		{"memory", fmt.Sprintf("%.1f GiB", float64(f.MemoryBytes)/(1<<30))},
		{"hypervisor", hyper}, {"nested virtualization", dash(f.NestedVirt)}, {"kvm", f.KVM},
		{"cgroups", f.CgroupMode}, {"smt", f.SMT}, {"cpu governor", dash(f.Governor)},
		{"load (1 min)", fmt.Sprintf("%.2f", f.LoadAvg1)},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
