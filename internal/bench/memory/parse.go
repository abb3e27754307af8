package memory

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/isobench/isobench/internal/bench"
)

// Result is what one `sysbench memory run` reported.
type Result struct {
	Threads      int
	BlockSize    string // as sysbench prints it: "1KiB", "1024KiB"
	Operation    string // read or write
	MiBPerSecond float64
	OpsPerSecond float64
}

// "18059.22 MiB transferred (9016.34 MiB/sec)"
var transferred = regexp.MustCompile(`^([0-9.]+) MiB transferred \(([0-9.]+) MiB/sec\)$`)

// "Total operations: 18492639 (9232736.32 per second)"
var operations = regexp.MustCompile(`^Total operations: ([0-9]+) \(([0-9.]+) per second\)$`)

// Parse reads the text report of sysbench 1.0's memory test. Output of a failed, killed or
// cut-short run is an error quoting sysbench's complaint.
func Parse(out []byte) (Result, error) {
	var r Result
	var haveRate, complete bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var err error
		if m := transferred.FindStringSubmatch(line); m != nil {
			r.MiBPerSecond, err = strconv.ParseFloat(m[2], 64)
			haveRate = err == nil
		} else if m := operations.FindStringSubmatch(line); m != nil {
			r.OpsPerSecond, err = strconv.ParseFloat(m[2], 64)
		} else if key, val, ok := strings.Cut(line, ":"); ok {
			val = strings.TrimSpace(val)
			switch key {
			case "Number of threads":
				r.Threads, err = strconv.Atoi(val)
			case "block size":
				r.BlockSize = val
			case "operation":
				r.Operation = val
			case bench.SysbenchLastLine:
				complete = true // the report's last line
			}
		}
		if err != nil {
			return r, fmt.Errorf("sysbench memory output: %q: %w", line, err)
		}
	}
	if err := bench.CheckSysbenchReport("memory", out, "MiB transferred", haveRate, complete); err != nil {
		return r, err
	}
	if !(r.MiBPerSecond > 0) {
		return r, fmt.Errorf("sysbench memory reported %v MiB/s", r.MiBPerSecond)
	}
	return r, nil
}
