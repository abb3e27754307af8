package cpu

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/isobench/isobench/internal/bench"
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
		case bench.SysbenchLastLine:
			complete = true // the report's last line
		}
		if err != nil {
			return r, fmt.Errorf("sysbench cpu output: %q: %w", sc.Text(), err)
		}
	}
	if err := bench.CheckSysbenchReport("cpu", out, "events per second", haveRate, complete); err != nil {
		return r, err
	}
	if !(r.EventsPerSecond > 0) {
		return r, fmt.Errorf("sysbench cpu reported %v events per second", r.EventsPerSecond)
	}
	return r, nil
}
