package runner

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/isobench/isobench/internal/results"
)

// resultsWriter is the part of results.Writer the run uses.
type resultsWriter interface {
	AddSample(results.Sample) error
	AddFailure(results.Failure) error
	WriteEnvironment(results.Environment) error
	Close() error
}

// recorder puts every sample and failure on disk as it is measured and counts them.
// An error from it means the run's records are incomplete; the run stops and says so.
type recorder struct {
	w       resultsWriter
	res     *Result
	summary *summary
}

// sample records one measured value; the schedule sees it too.
func (r *recorder) sample(s results.Sample, sched *schedule) error {
	if err := r.w.AddSample(s); err != nil {
		return fmt.Errorf("recording a sample of %s %s: %w", s.Runtime, s.Benchmark, err)
	}
	r.res.Samples++
	r.summary.add(s)
	sched.add(s)
	return nil
}

// failure records a failed trial in failures.jsonl and its error in the trial's raw
// directory. A raw file that cannot be written is said in the failure record.
func (r *recorder) failure(f results.Failure, rawDir string) error {
	text := f.Error + "\n" + f.Stderr
	if err := os.WriteFile(filepath.Join(rawDir, "error"), []byte(text), 0o644); err != nil {
		f.Error += fmt.Sprintf(" (the raw error file could not be written: %v)", err)
	}
	r.res.Failures++
	r.summary.fail(f.Runtime, f.Benchmark)
	if err := r.w.AddFailure(f); err != nil {
		return fmt.Errorf("recording the failed trial %d of %s %s (%s): %w", f.Trial, f.Runtime, f.Benchmark, oneLine(f.Error), err)
	}
	return nil
}

// checkValue refuses a value that JSON cannot hold and no statistic can use.
func checkValue(metric string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("the benchmark emitted %v for %s", v, metric)
	}
	return nil
}

// oneLine folds an error onto one log line of bounded length.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
