package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// SysbenchLastLine is the key of the last line of a sysbench 1.0 report; a report that
// lacks it was cut short.
const SysbenchLastLine = "execution time (avg/stddev)"

// CheckSysbenchReport says what a sysbench report of test ("cpu") lacks once read: its
// rate line (rateLine names it), or its last line.
func CheckSysbenchReport(test string, out []byte, rateLine string, haveRate, complete bool) error {
	if !haveRate {
		return fmt.Errorf("sysbench %s output has no %q line (failed or cut short): %s", test, rateLine, SysbenchComplaint(out))
	}
	if !complete {
		return fmt.Errorf("sysbench %s output ends before its last line %q (cut short)", test, SysbenchLastLine)
	}
	return nil
}

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
