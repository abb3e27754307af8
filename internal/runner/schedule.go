package runner

import (
	"slices"
	"time"

	"github.com/isobench/isobench/internal/results"
)

// schedule decides, round by round, which runtimes one benchmark runs and in which
// order: warm-up rounds first (numbered up to 0), then measured rounds from 1. Every
// runtime takes part in a round at most once, so a sample's trial number is its round,
// and the same trial of two runtimes is a pair measured close together in time. The
// order rotates each round so that slow drift of the machine favours none.
//
// Without a StopRule every runtime runs Options.Trials measured rounds. With one, the
// schedule looks at each runtime's series at the checkpoints and lets a runtime go once
// they are all precise, or at the last checkpoint, or when the time limit is reached.
type schedule struct {
	bench  string
	warmup int
	rule   *StopRule
	cps    []int // measured trial counts at which the rule looks; the last is the maximum
	level  float64
	active []*plannedRuntime
	round  int // the last round handed out
	now    func() time.Time
	// started is when the first measured round began (for MaxTime).
	started time.Time
	trials  map[string]int                   // measured trials each runtime ran
	series  map[string]map[string]*collected // runtime, series key
	order   map[string][]string              // series keys of a runtime in first-seen order
	stops   []results.SeriesStop
}

type collected struct {
	metric string
	params map[string]string
	values []float64
}

func newSchedule(bench string, opts Options, runtimes []*plannedRuntime, now func() time.Time) *schedule {
	s := &schedule{
		bench: bench, warmup: opts.Warmup, rule: opts.Until, active: slices.Clone(runtimes),
		round: -opts.Warmup, now: now, trials: map[string]int{},
		series: map[string]map[string]*collected{}, order: map[string][]string{},
	}
	if s.rule == nil {
		s.cps = []int{opts.Trials}
	} else {
		s.cps = checkpoints(opts.Trials, s.rule.MaxTrials)
		s.level = lookConfidence(len(s.cps))
	}
	return s
}

// maxTrials is the most measured trials a runtime can get.
func (s *schedule) maxTrials() int { return s.cps[len(s.cps)-1] }

// next hands out the next round: its number and its runtimes in order. ok is false when
// the benchmark is done.
func (s *schedule) next() (round int, order []*plannedRuntime, ok bool) {
	round = s.round + 1
	if len(s.active) == 0 || round > s.maxTrials() {
		return 0, nil, false
	}
	if round == 1 {
		s.started = s.now()
	}
	if round > 1 && s.rule != nil && s.rule.MaxTime > 0 && s.now().Sub(s.started) >= s.rule.MaxTime {
		s.stopAll(results.StopMaxTime)
		return 0, nil, false
	}
	s.round = round
	return round, rotate(s.active, round+s.warmup-1), true
}

// ran counts a measured trial of a runtime, failed or not.
func (s *schedule) ran(runtime string) { s.trials[runtime]++ }

// add keeps a measured sample for the rule's looks.
func (s *schedule) add(x results.Sample) {
	if s.rule == nil {
		return
	}
	key := x.Metric + "\x00" + results.ParamsOf(x.Params).String()
	byKey := s.series[x.Runtime]
	if byKey == nil {
		byKey = map[string]*collected{}
		s.series[x.Runtime] = byKey
	}
	c := byKey[key]
	if c == nil {
		c = &collected{metric: x.Metric, params: x.Params}
		byKey[key] = c
		s.order[x.Runtime] = append(s.order[x.Runtime], key)
	}
	c.values = append(c.values, x.Value)
}

// roundDone looks at every runtime still running when round is a checkpoint.
func (s *schedule) roundDone(round int) {
	if s.rule == nil || !slices.Contains(s.cps, round) {
		return
	}
	last := round == s.maxTrials()
	var still []*plannedRuntime
	for _, r := range s.active {
		name := r.profile.Name
		looks, precise := s.lookAt(name)
		switch {
		case len(looks) == 0:
			s.stop(name, nil, results.StopNoSamples)
		case precise:
			s.stop(name, looks, results.StopPrecise)
		case last:
			s.stop(name, looks, results.StopMaxTrials)
		default:
			still = append(still, r)
		}
	}
	s.active = still
}

// interrupted records the runtimes still running when the run was cut short.
func (s *schedule) interrupted() { s.stopAll(results.StopInterrupted) }

func (s *schedule) stopAll(reason string) {
	for _, r := range s.active {
		looks, _ := s.lookAt(r.profile.Name)
		s.stop(r.profile.Name, looks, reason)
	}
	s.active = nil
}

// lookAt evaluates every series of a runtime; precise is true when there is at least
// one and all meet the target.
func (s *schedule) lookAt(runtime string) (looks []results.SeriesStop, precise bool) {
	if s.rule == nil {
		return nil, false
	}
	precise = len(s.order[runtime]) > 0
	for _, key := range s.order[runtime] {
		c := s.series[runtime][key]
		l, ok := look(c.values, s.level, s.rule.Precision)
		l.Metric, l.Params = c.metric, c.params
		if ok {
			l.Reason = results.StopPrecise
		}
		looks = append(looks, l)
		precise = precise && ok
	}
	return looks, precise
}

// stop lets a runtime go; each series that is not precise takes the runtime's reason.
func (s *schedule) stop(runtime string, looks []results.SeriesStop, reason string) {
	if s.rule == nil {
		return
	}
	if len(looks) == 0 {
		looks = []results.SeriesStop{{Reason: reason}}
	}
	for _, l := range looks {
		l.Runtime, l.Benchmark, l.Trials = runtime, s.bench, s.trials[runtime]
		if l.Reason == "" {
			l.Reason = reason
		}
		s.stops = append(s.stops, l)
	}
}

// rotate starts the round-robin order at a different runtime each round, so slow drift
// of the machine favours none.
func rotate[T any](xs []T, round int) []T {
	if len(xs) == 0 {
		return nil
	}
	k := ((round % len(xs)) + len(xs)) % len(xs)
	return append(append([]T(nil), xs[k:]...), xs[:k]...)
}
