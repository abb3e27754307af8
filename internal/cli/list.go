package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/bench"
)

func init() { addCommand(newListCmd) }

func newListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the benchmarks with their metrics and units",
		Example: `  isobench list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			for _, b := range bench.All() {
				fmt.Fprintf(w, "%s: %s\n", b.Name(), b.Description())
				if tools := b.Tools(); len(tools) > 0 {
					fmt.Fprintf(w, "  needs in the image: %s\n", strings.Join(tools, ", "))
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				for _, m := range b.Metrics() {
					fmt.Fprintf(tw, "  %s\t%s\t%s is better\t%s\n", m.Name, m.Unit, m.Better, m.Description)
				}
				tw.Flush()
				fmt.Fprintln(w)
			}
			return nil
		},
	}
}
