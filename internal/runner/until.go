package runner

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// StopRule asks for trials until every series' median is known to a precision: after
// Options.Trials, interleaved rounds continue, and at fixed checkpoints each runtime
// whose series all have a median interval within +-Precision of the median stops.
type StopRule struct {
	// Precision is the target half-width relative to the median (0.02 = +-2%).
	Precision float64
	// MaxTrials bounds the measured trials per runtime and benchmark; 0 picks DefaultMaxTrials.
	MaxTrials int
	// MaxTime bounds the measured rounds of each benchmark; 0 is no limit.
	MaxTime time.Duration
}

// checkpoints are the measured trial counts at which the rule looks: from first, each
// CheckpointGrowth times the last, up to and including max.
func checkpoints(first, max int) []int {
	cps := []int{first}
	for n := first; n < max; {
		n = min(max, int(math.Ceil(float64(n)*CheckpointGrowth)))
		cps = append(cps, n)
	}
	return cps
}

// lookConfidence is the level of each look's interval so that all looks together cover
// at StopConfidence (Bonferroni): one look per checkpoint and one more for a final look
// when a time limit or an interruption ends the rounds between checkpoints.
func lookConfidence(checkpoints int) float64 {
	return 1 - (1-StopConfidence)/float64(checkpoints+1)
}

// ruleText states the stopping rule in words for environment.json and the summary.
func ruleText(u *StopRule, cps []int, level float64) string {
	limit := fmt.Sprintf("at %d trials", u.MaxTrials)
	if u.MaxTime > 0 {
		limit += fmt.Sprintf(" or after %s of rounds per benchmark", u.MaxTime)
	}
	return fmt.Sprintf("trials ran in interleaved rounds; at %s measured trials the rule looked at each runtime "+
		"and stopped it when every one of its series had a distribution-free (order-statistic) median interval "+
		"at %.2f%% confidence within +-%g%% of the median (%g%% for all %d possible looks together, Bonferroni); "+
		"otherwise the runtime stopped %s",
		joinInts(cps), 100*level, 100*u.Precision, 100*StopConfidence, len(cps)+1, limit)
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ", ")
}

// interval is a median's confidence interval with its actual coverage.
type interval struct {
	lo, hi, coverage float64
}

// medianInterval is the one place the stopping rule takes its intervals from: the
// distribution-free (order-statistic) interval of the median at level, with its actual
// coverage; ok is false when even [min, max] covers less than level.
func medianInterval(sorted []float64, level float64) (interval, bool) {
	iv, coverage, ok := stats.MedianInterval(sorted, level)
	return interval{lo: iv.Lo, hi: iv.Hi, coverage: coverage}, ok
}

// look evaluates one series: its median, interval and whether it meets the precision.
func look(values []float64, level, precision float64) (stop results.SeriesStop, precise bool) {
	sorted := slices.Sorted(slices.Values(values))
	n := len(sorted)
	stop.N = n
	if n == 0 {
		return stop, false
	}
	stop.Median = (sorted[(n-1)/2] + sorted[n/2]) / 2
	iv, ok := medianInterval(sorted, level)
	if !ok {
		return stop, false
	}
	stop.Low, stop.High, stop.Coverage = &iv.lo, &iv.hi, iv.coverage
	dev := max(stop.Median-iv.lo, iv.hi-stop.Median)
	if stop.Median == 0 {
		// A median of 0 has no relative width: only an interval of zero width is precise.
		return stop, dev == 0
	}
	half := dev / math.Abs(stop.Median)
	stop.HalfWidth = &half
	return stop, half <= precision
}
