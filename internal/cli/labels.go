package cli

import (
	"strings"

	"github.com/isobench/isobench/internal/history"
)

// parseLabels reads repeated --label NAME=VALUE flags; a malformed label, or one that
// takes the name of a label every run has already, is bad input.
func parseLabels(flags []string) (map[string]string, error) {
	labels := map[string]string{}
	for _, l := range flags {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, badInput("--label %q: give NAME=VALUE, for example --label branch=main", l)
		}
		if err := history.CheckLabel(k, v); err != nil {
			return nil, badInput("--label %q: %v", l, err)
		}
		if _, builtin := history.BuiltinLabels()[k]; builtin {
			return nil, badInput("--label %q: %s is recorded with every run already; choose another name", l, k)
		}
		if old, twice := labels[k]; twice && old != v {
			return nil, badInput("--label %q: %s is given twice (%s and %s); give it once", l, k, old, v)
		}
		labels[k] = v
	}
	return labels, nil
}
