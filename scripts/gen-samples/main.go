// Command gen-samples writes a run directory with many samples (1,000,000 by default)
// through results.Writer, to show that `isobench report` scales:
//
//	go run ./scripts/gen-samples -out /tmp/run1m
//	/usr/bin/time -v isobench report /tmp/run1m
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/isobench/isobench/internal/report/fixture"
)

func main() {
	out := flag.String("out", "", "run directory to create (required)")
	samples := flag.Int("samples", 1_000_000, "about how many samples to write")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen-samples: give the run directory to create with -out DIR")
		os.Exit(2)
	}
	spec := fixture.Scale()
	perTrial := 0
	for _, m := range spec.Metrics {
		perTrial += max(len(m.Params), 1) * len(spec.Runtimes)
	}
	spec.Trials = max(1, (*samples+perTrial-1)/perTrial)
	n, err := fixture.Write(*out, spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-samples:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d samples in %d trials to %s\n", n, spec.Trials, *out)
}
