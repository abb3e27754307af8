package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagHelpReadsRight checks every flag of every command: pflag takes a backquoted
// word in a usage string for the value's name (`--bench isobench list`), and prints its
// own "(default ...)" after a usage that already names one whenever the flag has a
// non-zero default.
func TestFlagHelpReadsRight(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			name := c.CommandPath() + " --" + f.Name
			if strings.Contains(f.Usage, "`") {
				varname, _ := pflag.UnquoteUsage(f)
				t.Errorf("%s: backquotes in its usage make %q its value name: %q", name, varname, f.Usage)
			}
			if strings.Contains(f.Usage, "(default") && !zeroDefault(f) {
				t.Errorf("%s: usage names a default and pflag adds (default %s): %q", name, f.DefValue, f.Usage)
			}
		}
		c.LocalFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
}

// zeroDefault mirrors pflag's test for a default it does not print.
func zeroDefault(f *pflag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "[]", "<nil>", "0s":
		return true
	}
	return false
}
