package bench

import (
	"strconv"
	"strings"
)

// SysbenchComplaint picks the line that says why a sysbench run failed (FATAL, invalid
// option), else the last line of output, for error messages.
func SysbenchComplaint(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "FATAL") || strings.HasPrefix(l, "invalid option") || strings.HasPrefix(l, "Unknown") {
			return l
		}
	}
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return "last line: " + strconv.Quote(last)
	}
	return "no output"
}
