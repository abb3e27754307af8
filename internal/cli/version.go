package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/version"
)

func init() { addCommand(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the isobench version, commit and results schema version",
		Example: `  isobench version`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version.Info()
			commit := v.Commit
			if commit == "" {
				commit = "unknown"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "isobench %s (commit %s, %s, results schema %d)\n", v.Version, commit, v.Go, results.SchemaVersion)
			return nil
		},
	}
}
