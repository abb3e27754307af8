// Package cli holds isobench's commands, one file per command.
package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// commands are added by each command's file from init, so that a new command is one new file.
var commands []func() *cobra.Command

func addCommand(f func() *cobra.Command) { commands = append(commands, f) }

// ExitError carries an exit status and a one-line message.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// badInput is an error in what the user gave: exit status 2.
func badInput(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// atLeastOneArg refuses a command line without arguments as bad input, saying why:
// what to give.
func atLeastOneArg(why string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return badInput("%s", why)
		}
		return nil
	}
}

// globalFlags are shared by all commands.
type globalFlags struct {
	home   string
	config string
}

var global globalFlags

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "isobench",
		Short: "Measure what isolation costs: the same image under many isolation runtimes",
		Long: `isobench runs the same image under many isolation runtimes (a plain process, runc,
crun, gVisor, engines and microVMs), measures start-up, CPU, memory, syscalls, disk,
network, HTTP serving and density, keeps every raw sample, and reports honest statistics.`,
		Example: `  isobench doctor
  isobench image build
  isobench run --bench startup --trials 30
  isobench report runs/latest`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&global.home, "home", "", "cache and state directory (default $ISOBENCH_HOME or /var/lib/isobench)")
	root.PersistentFlags().StringVar(&global.config, "config", "", "config file (YAML) with runtime profiles and benchmark settings")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput("%v (see `%s --help`)", err, c.CommandPath())
	})
	for _, f := range commands {
		root.AddCommand(f())
	}
	return root
}

// Main runs the CLI and returns the exit status.
func Main(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "isobench:", err)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	// Cobra's own complaints (unknown command, wrong number of arguments) are bad input too.
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "arg(s)") {
		return 2
	}
	return 1
}
