package cpu

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Result is what one `sysbench cpu run` reported.
type Result struct {
	Threads         int
	EventsPerSecond float64
	TotalEvents     int64
}

// Parse reads the text report of sysbench 1.0's cpu test. Output of a failed or killed
// run (no "events per second" line) is an error quoting sysbench's own complaint; so is a
// report cut short before its last line.
func Parse(out []byte) (Result, error) {
	var r Result
	var haveRate, complete bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Number of threads":
			r.Threads, err = strconv.Atoi(val)
		case "events per second":
			r.EventsPerSecond, err = strconv.ParseFloat(val, 64)
			haveRate = err == nil
		case "total number of events":
			r.TotalEvents, err = strconv.ParseInt(val, 10, 64)
		case "execution time (avg/stddev)":
			complete = true // the report's last line
		}
		if err != nil {
			return r, fmt.Errorf("sysbench cpu output: %q: %w", sc.Text(), err)
		}
	}
	if !haveRate {
		return r, fmt.Errorf("sysbench cpu output has no \"events per second\" line (failed or cut short): %s", Complaint(out))
	}
	if !complete {
		return r, errors.New("sysbench cpu output ends before its last line \"execution time (avg/stddev)\" (cut short)")
	}
	if !(r.EventsPerSecond > 0) {
		return r, fmt.Errorf("sysbench cpu reported %v events per second", r.EventsPerSecond)
	}
	return r, nil
}

// Complaint picks the line that says why a sysbench run failed (FATAL, invalid option),
// else the last line of output, for error messages.
func Complaint(out []byte) string {
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
