// Package compare is the A/B comparison of two runs, or of two runtimes within one
// run, and the regression gate on it. Per series it reports the Hodges-Lehmann shift
// with the interval that inverts the same rank test that gives the p-value
// (Mann-Whitney for independent samples, Wilcoxon signed-rank for the paired rounds of
// one interleaved run), Holm-corrected over the series; the gate fails closed.
package compare

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// ErrUnknownRuntime is a runtime asked for that the run did not measure.
var ErrUnknownRuntime = errors.New("unknown runtime")

// DefaultAlpha is the significance level.
const DefaultAlpha = 0.05

// Options tune a comparison.
type Options struct {
	// Alpha is the significance level; 0 means DefaultAlpha.
	Alpha float64
	// Gate turns the regression gate on; Threshold is then the largest tolerated
	// significant change in the worse direction (0.05 is 5%; 0 tolerates none).
	Gate      bool
	Threshold float64
	// WholeInterval makes a regression need the whole interval of the change beyond the
	// threshold, not only its estimate.
	WholeInterval bool
	// AllowMissing lets series of OLD that NEW lacks pass the gate (they are still listed).
	AllowMissing bool
	// MaxFailed is the share of failed trials NEW may have without failing the gate
	// when OLD had fewer (0: any increase fails).
	MaxFailed float64
}

func (o Options) alpha() float64 {
	if o.Alpha > 0 {
		return o.Alpha
	}
	return DefaultAlpha
}

// Excluded counts values kept out of a row's statistics, with the reason.
type Excluded struct {
	Side    string  `json:"side"` // old or new
	Count   int     `json:"count"`
	Example float64 `json:"example"`
	Reason  string  `json:"reason"`
}

// Row is the comparison of one series.
type Row struct {
	results.SeriesKey
	Unit     string
	Better   results.Better
	Old, New stats.Summary
	// Excluded lists values that cannot be right (negative memory, impossible rates):
	// they are in no statistic and no verdict.
	Excluded []Excluded
	// Paired is set when the rounds of one interleaved run were paired by trial; Pairs
	// counts them.
	Paired bool
	Pairs  int
	// Shift is the Hodges-Lehmann estimate of new minus old with the interval of Test.
	Shift stats.Shift
	// Change is Shift relative to the old median; ChangeCI is its interval relative the
	// same way (NaN when the shift has no interval at the level).
	Change   float64
	ChangeCI stats.Interval
	// RatioOfMedians is median(new) / median(old), for readers who think in ratios.
	RatioOfMedians float64
	Test           stats.RankTest
	// P is Test.P; PAdjusted is P after the Holm correction over every row of the
	// comparison, which decides Significant.
	P, PAdjusted float64
	Significant  bool
	// Direction is +1 when new is larger, -1 when smaller, from the shift (or from the
	// rank statistic when the shift is zero); 0 when nothing moved.
	Direction int
	// Worse and Improved are significant changes in the metric's worse or better direction.
	Worse, Improved bool
	// Regression is Worse beyond Options.Threshold (under the gate).
	Regression bool
	// Detectable is false when even the most extreme outcome of this design could not be
	// significant after the Holm correction; MinAdjustedP is that outcome's p, and
	// TrialsNeeded the trials per side (paired rounds when Paired) that could be.
	Detectable   bool
	MinAdjustedP float64
	TrialsNeeded int
	// Notes are what a reader must know about the row.
	Notes []string
}

// Gate reasons, each with its own line.
const (
	ReasonRegression   = "regression"
	ReasonMissing      = "missing"
	ReasonFailed       = "failed"
	ReasonUndetectable = "undetectable"
	ReasonUnusable     = "unusable"
)

// GateFailure is one reason the gate fails.
type GateFailure struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Result is a whole comparison.
type Result struct {
	OldName, NewName string
	Options          Options
	Rows             []Row
	// Missing are series of OLD that NEW lacks; Added the reverse.
	Missing, Added []string
	// Gate lists every reason the gate fails; empty when it passes or is off.
	Gate     []GateFailure
	Warnings []string
	byHost   bool
}

// Regressions are the rows beyond the gate.
func (r *Result) Regressions() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Regression {
			out = append(out, row)
		}
	}
	return out
}

// Name is the row's series in words, with the host when the comparison spans hosts.
func (r *Result) Name(row Row) string { return row.SeriesKey.Name(r.byHost) }

type side struct {
	data *results.Dataset
	key  func(results.SeriesKey) (results.SeriesKey, bool)
	// trials maps a failure's key to the key it is matched under.
	trial func(results.TrialKey) (results.TrialKey, bool)
}

// Runs compares every series of the run in newDir with the same series in oldDir.
// Series are matched by runtime, benchmark, metric and params, and by host too when
// either run holds several hosts (so one CI machine compares with itself across renames).
func Runs(ctx context.Context, oldDir, newDir string, opts Options) (*Result, error) {
	oldData, err := results.LoadDataset(ctx, []string{oldDir})
	if err != nil {
		return nil, err
	}
	newData, err := results.LoadDataset(ctx, []string{newDir})
	if err != nil {
		return nil, err
	}
	byHost := len(oldData.Hosts()) > 1 || len(newData.Hosts()) > 1
	key := func(k results.SeriesKey) (results.SeriesKey, bool) {
		if !byHost {
			k.Host = ""
		}
		return k, true
	}
	trial := func(k results.TrialKey) (results.TrialKey, bool) {
		if !byHost {
			k.Host = ""
		}
		return k, true
	}
	res := &Result{OldName: oldDir, NewName: newDir, Options: opts, byHost: byHost}
	res.Warnings = append(append(res.Warnings, oldData.Warnings...), newData.Warnings...)
	res.compare(side{oldData, key, trial}, side{newData, key, trial}, false)
	return res, nil
}

// Runtimes compares runtime b (new) against runtime a (old) within one run. The trials
// of one run are interleaved, so trial i of a and of b form one round: they are paired.
func Runtimes(ctx context.Context, dir, a, b string, opts Options) (*Result, error) {
	data, err := results.LoadDataset(ctx, []string{dir})
	if err != nil {
		return nil, err
	}
	return RuntimesOf(data, dir, a, b, opts)
}

// RuntimesOf is Runtimes on a dataset already loaded (named dir in messages), for a
// report that compares every runtime with its reference.
func RuntimesOf(data *results.Dataset, dir, a, b string, opts Options) (*Result, error) {
	seen := map[string]bool{}
	for k := range data.Series {
		seen[k.Runtime] = true
	}
	for _, rt := range []string{a, b} {
		if !seen[rt] {
			return nil, fmt.Errorf("%w: %s has no samples of runtime %q; it has %s", ErrUnknownRuntime, dir, rt, strings.Join(slices.Sorted(maps.Keys(seen)), ", "))
		}
	}
	label := a + " → " + b
	only := func(rt string) side {
		return side{data: data,
			key: func(k results.SeriesKey) (results.SeriesKey, bool) {
				if k.Runtime != rt {
					return k, false
				}
				k.Runtime = label
				return k, true
			},
			trial: func(k results.TrialKey) (results.TrialKey, bool) {
				if k.Runtime != rt {
					return k, false
				}
				k.Runtime = label
				return k, true
			}}
	}
	res := &Result{OldName: a, NewName: b, Options: opts, Warnings: data.Warnings, byHost: len(data.Hosts()) > 1}
	res.compare(only(a), only(b), true)
	return res, nil
}

// compare pairs the series of both sides, compares each pair and judges the whole.
func (res *Result) compare(oldSide, newSide side, paired bool) {
	olds := map[results.SeriesKey]*results.Series{}
	for k, s := range oldSide.data.Series {
		if mk, ok := oldSide.key(k); ok {
			olds[mk] = s
		}
	}
	matched := map[results.SeriesKey]bool{}
	for k, ns := range newSide.data.Series {
		mk, ok := newSide.key(k)
		if !ok {
			continue
		}
		os, ok := olds[mk]
		if !ok {
			res.Added = append(res.Added, mk.Name(res.byHost))
			continue
		}
		matched[mk] = true
		res.Rows = append(res.Rows, compareSeries(mk, os, ns, paired, res.Options))
	}
	for mk := range olds {
		if !matched[mk] {
			res.Missing = append(res.Missing, mk.Name(res.byHost))
		}
	}
	sort.Strings(res.Missing)
	sort.Strings(res.Added)
	if len(res.Added) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d series are only in NEW and were not compared: %s", len(res.Added), strings.Join(res.Added, ", ")))
	}
	slices.SortFunc(res.Rows, func(a, b Row) int { return a.SeriesKey.Compare(b.SeriesKey) })
	res.decide()
	res.judgeFailures(oldSide, newSide)
	res.judge()
}

// usable splits values into those that can be measurements and those that cannot.
func usable(s *results.Series, sideName string) (values []float64, trials []int, excluded []Excluded) {
	byReason := map[string]*Excluded{}
	for i, v := range s.Values {
		if why := results.Implausible(s.Unit, v); why != "" {
			e := byReason[why]
			if e == nil {
				e = &Excluded{Side: sideName, Example: v, Reason: why}
				byReason[why] = e
			}
			e.Count++
			continue
		}
		values = append(values, v)
		trials = append(trials, s.Trials[i])
	}
	for _, e := range byReason {
		excluded = append(excluded, *e)
	}
	slices.SortFunc(excluded, func(a, b Excluded) int { return cmp.Compare(a.Reason, b.Reason) })
	return values, trials, excluded
}

func compareSeries(k results.SeriesKey, old, cur *results.Series, paired bool, opts Options) Row {
	ov, ot, oex := usable(old, "old")
	nv, nt, nex := usable(cur, "new")
	row := Row{SeriesKey: k, Unit: cur.Unit, Better: cur.Better, Excluded: append(oex, nex...),
		Old: stats.SummarizeSorted(ov), New: stats.SummarizeSorted(nv)}
	if cur.Unit != old.Unit || cur.Better != old.Better {
		row.Notes = append(row.Notes, fmt.Sprintf("OLD measured in %s (%s is better), NEW in %s (%s is better)", old.Unit, old.Better, cur.Unit, cur.Better))
	}
	switch {
	case old.Emulated && cur.Emulated:
		row.Notes = append(row.Notes, "emulated on both sides (a VM under TCG): a change says little about the runtime on real hardware")
	case old.Emulated || cur.Emulated:
		row.Notes = append(row.Notes, "emulated on one side only (a VM under TCG): the two are not comparable")
	}
	if c := cmp.Or(cur.Caveat, old.Caveat); c != "" {
		row.Notes = append(row.Notes, c)
	}
	for _, e := range row.Excluded {
		row.Notes = append(row.Notes, fmt.Sprintf("%d %s value(s) kept out (e.g. %g): %s", e.Count, strings.ToUpper(e.Side), e.Example, e.Reason))
	}
	row.RatioOfMedians = stats.RatioOfMedians(nv, ov)
	level := stats.Confidence
	var diffs []float64
	unpaired := 0
	if paired {
		ob, nb := byTrial(ov, ot), byTrial(nv, nt)
		for _, t := range slices.Sorted(maps.Keys(nb)) {
			if o, ok := ob[t]; ok {
				diffs = append(diffs, nb[t]-o)
			}
		}
		for _, side := range []struct {
			trials []int
			other  map[int]float64
		}{{ot, nb}, {nt, ob}} {
			for _, t := range side.trials {
				if _, ok := side.other[t]; !ok {
					unpaired++
				}
			}
		}
	}
	if len(diffs) > 0 {
		row.Paired, row.Pairs = true, len(diffs)
		row.Test = stats.SignedRankTest(diffs)
		row.Shift = stats.PairedHodgesLehmann(diffs, level)
		if unpaired > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("%d value(s) without a partner in the same round left out of the paired test", unpaired))
		}
	} else {
		row.Test = stats.MannWhitneyTest(ov, nv)
		row.Shift = stats.HodgesLehmann(ov, nv, level)
	}
	row.P = row.Test.P
	row.Direction = direction(row, diffs)
	base := math.Abs(row.Old.Median)
	row.Change, row.ChangeCI = math.NaN(), stats.Interval{Lo: math.NaN(), Hi: math.NaN()}
	if base > 0 {
		row.Change = row.Shift.Estimate / base
		if row.Shift.CI.OK {
			row.ChangeCI = stats.Interval{Lo: row.Shift.CI.Lo / base, Hi: row.Shift.CI.Hi / base}
		}
	}
	return row
}

// direction is the sign of the shift; a zero shift takes the sign of the rank statistic
// against its null mean, so the word always agrees with the test.
func direction(row Row, diffs []float64) int {
	if s := row.Shift.Estimate; s > 0 {
		return 1
	} else if s < 0 {
		return -1
	}
	var dev float64
	if row.Paired {
		for _, d := range diffs {
			switch {
			case d > 0:
				dev++
			case d < 0:
				dev--
			}
		}
	} else {
		dev = row.Test.Statistic - float64(row.Old.N*row.New.N)/2
	}
	switch {
	case dev > 0:
		return 1
	case dev < 0:
		return -1
	}
	return 0
}

func byTrial(values []float64, trials []int) map[int]float64 {
	s := &results.Series{Values: values, Trials: trials}
	return s.ByTrial()
}

// decide marks significant changes, correcting for the number of series compared,
// and whether the design could detect anything at all.
func (res *Result) decide() {
	ps := make([]float64, len(res.Rows))
	m := 0
	for i, r := range res.Rows {
		ps[i] = r.P
		if !math.IsNaN(r.P) {
			m++
		}
	}
	alpha := res.Options.alpha()
	for i, adj := range stats.Holm(ps) {
		row := &res.Rows[i]
		row.PAdjusted = adj
		row.MinAdjustedP = math.Min(1, float64(m)*row.Test.MinP)
		row.Detectable = row.MinAdjustedP < alpha
		row.TrialsNeeded = stats.TrialsForMinP(alpha, m)
		if row.Paired {
			row.TrialsNeeded = stats.PairsForMinP(alpha, m)
		}
		row.Significant = adj < alpha && row.Direction != 0
		if !row.Significant {
			continue
		}
		worse := (row.Better == results.Lower && row.Direction > 0) || (row.Better == results.Higher && row.Direction < 0)
		row.Worse, row.Improved = worse, !worse
		if worse && res.Options.Gate {
			row.Regression = res.beyond(*row)
		}
	}
}

// beyond tells whether a worse row's change exceeds the threshold: its estimate, or
// with WholeInterval its whole interval. A change from a zero median is beyond any.
func (res *Result) beyond(row Row) bool {
	t := res.Options.Threshold
	if math.IsNaN(row.Change) {
		return true
	}
	if !res.Options.WholeInterval {
		return math.Abs(row.Change) > t
	}
	if math.IsNaN(row.ChangeCI.Lo) {
		return false
	}
	if row.Direction > 0 {
		return row.ChangeCI.Lo > t
	}
	return row.ChangeCI.Hi < -t
}

// judgeFailures fails the gate where NEW's trials failed more often than OLD's.
func (res *Result) judgeFailures(oldSide, newSide side) {
	type counts struct {
		failed, total int
		first         string
	}
	collect := func(s side) map[results.TrialKey]counts {
		out := map[results.TrialKey]counts{}
		add := func(k results.TrialKey, failed, succeeded int, first string) {
			mk, ok := s.trial(k)
			if !ok {
				return
			}
			c := out[mk]
			c.failed += failed
			c.total += failed + succeeded
			if c.first == "" {
				c.first = first
			}
			out[mk] = c
		}
		for k, n := range s.data.Succeeded {
			add(k, 0, n, "")
		}
		for _, f := range s.data.Failures {
			add(results.TrialKey{Host: f.Host, Runtime: f.Runtime, Benchmark: f.Benchmark}, f.Count, 0, f.FirstError)
		}
		return out
	}
	olds, news := collect(oldSide), collect(newSide)
	keys := make([]results.TrialKey, 0, len(news))
	for k := range news {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b results.TrialKey) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Runtime, b.Runtime), cmp.Compare(a.Benchmark, b.Benchmark))
	})
	for _, k := range keys {
		n := news[k]
		if n.failed == 0 {
			continue
		}
		o := olds[k]
		nf := float64(n.failed) / float64(n.total)
		of := 0.0
		if o.total > 0 {
			of = float64(o.failed) / float64(o.total)
		}
		name := k.Runtime + " " + k.Benchmark
		if res.byHost && k.Host != "" {
			name = k.Host + ": " + name
		}
		msg := fmt.Sprintf("%s: %d of %d trials failed in NEW (%.0f%%), %d of %d in OLD (%.0f%%); first error: %s",
			name, n.failed, n.total, 100*nf, o.failed, o.total, 100*of, firstLine(n.first))
		if nf > math.Max(of, res.Options.MaxFailed) {
			res.gate(ReasonFailed, msg)
		} else {
			res.Warnings = append(res.Warnings, msg)
		}
	}
}

// judge lists every reason the gate fails, each once; without the gate the same
// findings are warnings.
func (res *Result) judge() {
	for _, r := range res.Rows {
		if r.Regression {
			res.gate(ReasonRegression, fmt.Sprintf("%s: %s worse (%s [%s]; p=%.3g Holm-adjusted), beyond the %s threshold",
				res.Name(r), pct(r.Change), signed(r.Shift.Estimate, r.Unit), intervalPct(r.ChangeCI), r.PAdjusted, pct(res.Options.Threshold)))
		}
	}
	for _, m := range res.Missing {
		if !res.Options.Gate {
			res.Warnings = append(res.Warnings, "series of OLD missing in NEW, not compared: "+m)
			continue
		}
		if res.Options.AllowMissing {
			res.Warnings = append(res.Warnings, "series of OLD missing in NEW (allowed by --allow-missing): "+m)
			continue
		}
		res.gate(ReasonMissing, m+": in OLD but not in NEW (pass --allow-missing to compare only what both have)")
	}
	// Undetectable rows, one line per design (sample sizes), naming a few series.
	type design struct {
		nOld, nNew, pairs int
		paired            bool
	}
	groups := map[design][]Row{}
	var order []design
	for _, r := range res.Rows {
		switch {
		case r.Old.N == 0 || r.New.N == 0:
			res.gate(ReasonUnusable, fmt.Sprintf("%s: no usable values (%d old, %d new) after leaving out values that cannot be right", res.Name(r), r.Old.N, r.New.N))
		case !r.Detectable:
			d := design{r.Old.N, r.New.N, r.Pairs, r.Paired}
			if _, ok := groups[d]; !ok {
				order = append(order, d)
			}
			groups[d] = append(groups[d], r)
		}
	}
	m := 0
	for _, r := range res.Rows {
		if !math.IsNaN(r.P) {
			m++
		}
	}
	alpha := res.Options.alpha()
	for _, d := range order {
		rows := groups[d]
		var names []string
		for i, r := range rows {
			if i == 4 {
				names = append(names, fmt.Sprintf("and %d more", len(rows)-4))
				break
			}
			names = append(names, res.Name(r))
		}
		sizes, need := fmt.Sprintf("%d+%d trials", d.nOld, d.nNew), fmt.Sprintf("at least %d trials per side", rows[0].TrialsNeeded)
		if d.paired {
			sizes, need = fmt.Sprintf("%d paired rounds", d.pairs), fmt.Sprintf("at least %d paired rounds", rows[0].TrialsNeeded)
		}
		res.gate(ReasonUndetectable, fmt.Sprintf("cannot detect any change in %d series (%s): with %s over %d compared series the smallest attainable Holm-adjusted p is %.3g, not below alpha %g; needs %s",
			len(rows), strings.Join(names, ", "), sizes, m, rows[0].MinAdjustedP, alpha, need))
	}
	slices.SortStableFunc(res.Gate, func(a, b GateFailure) int { return cmp.Compare(reasonRank(a.Reason), reasonRank(b.Reason)) })
}

func reasonRank(r string) int {
	return slices.Index([]string{ReasonRegression, ReasonMissing, ReasonFailed, ReasonUnusable, ReasonUndetectable}, r)
}

func (res *Result) gate(reason, msg string) {
	if !res.Options.Gate {
		res.Warnings = append(res.Warnings, msg)
		return
	}
	res.Gate = append(res.Gate, GateFailure{Reason: reason, Message: msg})
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
