package compare

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench/density"
	"github.com/isobench/isobench/internal/results"
)

// series is one series of an in-memory dataset: values in trial order.
type series struct {
	runtime, metric string
	unit            string
	better          results.Better
	values          []float64
}

func dataset(ss []series, failures ...results.FailureCount) *results.Dataset {
	d := &results.Dataset{Series: map[results.SeriesKey]*results.Series{}, Succeeded: map[results.TrialKey]int{}, Failures: failures}
	trials := map[results.TrialKey]int{}
	for _, s := range ss {
		unit, better := s.unit, s.better
		if unit == "" {
			unit, better = "ms", results.Lower
		}
		k := results.SeriesKey{Host: "h", Runtime: s.runtime, Benchmark: "startup", Metric: s.metric}
		sr := &results.Series{Key: k, Unit: unit, Better: better}
		for i, v := range s.values {
			sr.Add(v, i+1)
		}
		sr.Sort()
		d.Series[k] = sr
		tk := results.TrialKey{Host: "h", Runtime: s.runtime, Benchmark: "startup"}
		trials[tk] = max(trials[tk], len(s.values))
	}
	for k, n := range trials {
		d.Succeeded[k] = n
	}
	return d
}

func runsOf(old, cur *results.Dataset, opts Options) *Result {
	key := func(k results.SeriesKey) (results.SeriesKey, bool) { k.Host = ""; return k, true }
	trial := func(k results.TrialKey) (results.TrialKey, bool) { k.Host = ""; return k, true }
	res := &Result{OldName: "old", NewName: "new", Options: opts}
	res.compare(side{old, key, trial}, side{cur, key, trial}, false)
	return res
}

func reasons(res *Result) map[string]int {
	out := map[string]int{}
	for _, g := range res.Gate {
		out[g.Reason]++
	}
	return out
}

var gate5 = Options{Gate: true, Threshold: 0.05}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func draw(rng *rand.Rand, n int, median, spread float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = median * math.Exp(spread*rng.NormFloat64())
	}
	return out
}

// [100,100,100] vs [110,110,110] was a REGRESSION by a normal approximation (p=0.047);
// the exact p is 0.1, and the gate says n=3 cannot detect anything.
func TestAllTiedAtThreeIsNotARegression(t *testing.T) {
	res := runsOf(dataset([]series{{"runc", "total", "", "", []float64{100, 100, 100}}}),
		dataset([]series{{"runc", "total", "", "", []float64{110, 110, 110}}}), gate5)
	r := res.Rows[0]
	if r.Regression || r.Significant || math.Abs(r.P-0.1) > 1e-12 {
		t.Errorf("row %+v: want p=0.1, not significant", r)
	}
	if got := reasons(res); got[ReasonUndetectable] != 1 || got[ReasonRegression] != 0 || len(res.Gate) != 1 {
		t.Errorf("gate %+v, want exactly the undetectable reason", res.Gate)
	}
	if msg := res.Gate[0].Message; !strings.Contains(msg, "needs at least 4 trials per side") || !strings.Contains(msg, "3+3 trials") {
		t.Errorf("undetectable line does not say how many trials are needed: %s", msg)
	}
}

// [10]*10 vs [10]*6+[11]*4 (lower is better) was "+0.0% better"; the direction comes
// from the test's effect, and it is not significant.
func TestTieOnlyChangeIsNeitherBetterNorZeroPercent(t *testing.T) {
	res := runsOf(dataset([]series{{"runc", "total", "", "", repeat(10, 10)}}),
		dataset([]series{{"runc", "total", "", "", append(repeat(10, 6), repeat(11, 4)...)}}), gate5)
	r := res.Rows[0]
	if r.Improved || r.Significant || Verdict(r) != "~" || r.Direction != 1 {
		t.Errorf("verdict %q direction %d improved %v: want ~ with direction +1 (new larger)", Verdict(r), r.Direction, r.Improved)
	}
	if math.Abs(r.P-0.08668730650154799) > 1e-12 {
		t.Errorf("p = %.15g, want the exact 0.0866873065", r.P)
	}
	if len(res.Gate) != 0 {
		t.Errorf("gate failed: %+v", res.Gate)
	}
}

// A tie-only change at n=3 is no regression; the only gate line is that n=3 cannot
// detect anything, which is the truth about the design.
func TestTieOnlyChangeAtThreeIsNoRegression(t *testing.T) {
	res := runsOf(dataset([]series{{"runc", "total", "", "", []float64{10, 10, 10}}}),
		dataset([]series{{"runc", "total", "", "", []float64{10, 10, 11}}}), gate5)
	if got := reasons(res); got[ReasonRegression] != 0 || got[ReasonUndetectable] != 1 {
		t.Errorf("gate %+v", res.Gate)
	}
	if res.Rows[0].Worse || res.Rows[0].Significant {
		t.Errorf("row %+v flagged", res.Rows[0])
	}
}

// n=5 over 8 series: Holm can never reach 0.05, and the gate says so with the n needed.
func TestFiveTrialsOverEightSeriesCannotDetect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var olds, news []series
	for i := range 8 {
		m := "m" + string(rune('a'+i))
		olds = append(olds, series{"runc", m, "", "", draw(rng, 5, 100, 0.01)})
		news = append(news, series{"runc", m, "", "", draw(rng, 5, 150, 0.01)}) // 50% slower
	}
	res := runsOf(dataset(olds), dataset(news), gate5)
	got := reasons(res)
	if got[ReasonUndetectable] != 1 || got[ReasonRegression] != 0 {
		t.Fatalf("gate %+v, want one undetectable line", res.Gate)
	}
	if msg := res.Gate[0].Message; !strings.Contains(msg, "8 series") || !strings.Contains(msg, "needs at least 6 trials per side") {
		t.Errorf("undetectable line: %s", msg)
	}
	for _, r := range res.Rows {
		if r.Significant || r.Detectable {
			t.Errorf("%s: significant=%v detectable=%v", r.Metric, r.Significant, r.Detectable)
		}
	}
}

func TestMissingSeriesFailsTheGateUnlessAllowed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	common := draw(rng, 12, 100, 0.02)
	old := dataset([]series{{"runc", "total", "", "", common}, {"crun", "total", "", "", draw(rng, 12, 90, 0.02)}})
	cur := dataset([]series{{"runc", "total", "", "", draw(rng, 12, 100, 0.02)}})
	res := runsOf(old, cur, gate5)
	if got := reasons(res); got[ReasonMissing] != 1 || len(res.Gate) != 1 || !strings.Contains(res.Gate[0].Message, "crun startup/total") {
		t.Errorf("gate %+v, want one missing line naming crun", res.Gate)
	}
	allow := gate5
	allow.AllowMissing = true
	if res := runsOf(old, cur, allow); len(res.Gate) != 0 {
		t.Errorf("--allow-missing gate %+v", res.Gate)
	}
}

func TestNewFailuresFailTheGateWithTheirShare(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	old := dataset([]series{{"runc", "total", "", "", draw(rng, 10, 100, 0.02)}})
	cur := dataset([]series{{"runc", "total", "", "", draw(rng, 8, 100, 0.02)}},
		results.FailureCount{Host: "h", Runtime: "runc", Benchmark: "startup", Count: 2, FirstError: "timed out\nmore"})
	res := runsOf(old, cur, gate5)
	if got := reasons(res); got[ReasonFailed] != 1 || len(res.Gate) != 1 {
		t.Fatalf("gate %+v, want one failed line", res.Gate)
	}
	if msg := res.Gate[0].Message; !strings.Contains(msg, "2 of 10 trials failed in NEW (20%)") || !strings.Contains(msg, "0 of 10 in OLD") || strings.Contains(msg, "more") {
		t.Errorf("failed line: %s", msg)
	}
	tolerant := gate5
	tolerant.MaxFailed = 0.25
	if res := runsOf(old, cur, tolerant); len(res.Gate) != 0 {
		t.Errorf("with --max-failed 25%% the gate failed: %+v", res.Gate)
	}
	// A runtime that fails every trial in NEW: its series is missing and its trials failed.
	gone := dataset(nil, results.FailureCount{Host: "h", Runtime: "runc", Benchmark: "startup", Count: 10, FirstError: "exec failed"})
	res = runsOf(old, gone, gate5)
	if got := reasons(res); got[ReasonFailed] != 1 || got[ReasonMissing] != 1 {
		t.Errorf("gate %+v, want failed and missing", res.Gate)
	}
}

func TestRegressionBeyondThresholdFailsAndThreePercentPasses(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	old := dataset([]series{{"runc", "total", "", "", draw(rng, 30, 100, 0.005)}})
	slower := dataset([]series{{"runc", "total", "", "", draw(rng, 30, 110, 0.005)}})
	res := runsOf(old, slower, gate5)
	if got := reasons(res); got[ReasonRegression] != 1 || len(res.Gate) != 1 || !strings.Contains(res.Gate[0].Message, "beyond the 5.0% threshold") {
		t.Errorf("10%% slower: gate %+v", res.Gate)
	}
	three := dataset([]series{{"runc", "total", "", "", draw(rng, 30, 103, 0.005)}})
	for _, whole := range []bool{false, true} {
		opts := gate5
		opts.WholeInterval = whole
		res := runsOf(old, three, opts)
		if !res.Rows[0].Worse || len(res.Gate) != 0 {
			t.Errorf("3%% slower at a 5%% threshold (whole interval %v): worse=%v gate %+v", whole, res.Rows[0].Worse, res.Gate)
		}
	}
	// The whole-interval mode wants the interval beyond the threshold, not only the estimate.
	edge := dataset([]series{{"runc", "total", "", "", draw(rng, 30, 105.5, 0.03)}})
	est, whole := runsOf(old, edge, gate5), runsOf(old, edge, Options{Gate: true, Threshold: 0.05, WholeInterval: true})
	if r := est.Rows[0]; r.Change > 0.05 && r.ChangeCI.Lo < 0.05 && r.Significant {
		if !r.Regression || whole.Rows[0].Regression {
			t.Errorf("change %+v: estimate mode regression=%v, whole-interval mode regression=%v", r.ChangeCI, r.Regression, whole.Rows[0].Regression)
		}
	} else {
		t.Errorf("fixture did not give a change whose estimate but not interval is beyond 5%%: %+v %+v", r.Change, r.ChangeCI)
	}
}

// Identical distributions over 200 seeds: the gate's false-positive rate is at most alpha.
func TestGateFalsePositiveRateOnIdenticalDistributions(t *testing.T) {
	const seeds = 200
	fired := 0
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 99))
		var olds, news []series
		for _, m := range []string{"a", "b", "c", "d"} {
			olds = append(olds, series{"runc", m, "", "", draw(rng, 20, 100, 0.05)})
			news = append(news, series{"runc", m, "", "", draw(rng, 20, 100, 0.05)})
		}
		if res := runsOf(dataset(olds), dataset(news), Options{Gate: true}); len(res.Gate) > 0 {
			fired++
		}
	}
	t.Logf("gate fired on %d of %d identical comparisons", fired, seeds)
	if rate := float64(fired) / seeds; rate > DefaultAlpha {
		t.Errorf("gate fired on %d of %d identical comparisons (%.3f > alpha %g)", fired, seeds, rate, DefaultAlpha)
	}
}

// Values that cannot be right are kept out of the statistics and the verdict, with why.
func TestImplausibleValuesAreKeptOut(t *testing.T) {
	old := dataset([]series{
		{"runc", "mem", "MiB", results.Lower, []float64{5, 5.1, 5.2, 5.0, 4.9, 5.1, 5.0, 5.2}},
		{"runc", "tput", "Gbit/s", results.Higher, []float64{20, 21, 19, 20, 22, 21, 20, 19}},
	})
	cur := dataset([]series{
		{"runc", "mem", "MiB", results.Lower, []float64{5, -68.6, 5.2, 5.0, 4.9, 5.1, 5.0, 5.2}},
		{"runc", "tput", "Gbit/s", results.Higher, []float64{20, 21, 19, 5000, 22, 21, 20, 19}},
	})
	res := runsOf(old, cur, gate5)
	for _, r := range res.Rows {
		if len(r.Excluded) != 1 || r.Excluded[0].Side != "new" || r.Excluded[0].Count != 1 || r.New.N != 7 {
			t.Errorf("%s: excluded %+v, n=%d", r.Metric, r.Excluded, r.New.N)
		}
		if r.Significant {
			t.Errorf("%s: an excluded value decided a verdict", r.Metric)
		}
	}
	var b bytes.Buffer
	if err := Table(&b, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"negative MiB", "5000 Gbit/s is above 1 Tbit/s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestMemAvailableGetsAWord(t *testing.T) {
	k := results.SeriesKey{Runtime: "runc", Benchmark: "density", Metric: "mem_available_per_container", Params: "n=1"}
	s := func(vs ...float64) *results.Series {
		sr := &results.Series{Key: k, Unit: "MiB", Better: results.Lower, Caveat: declaredCaveat(t, "mem_available_per_container")}
		for i, v := range vs {
			sr.Add(v, i+1)
		}
		sr.Sort()
		return sr
	}
	row := compareSeries(k, s(3, 4, 5, 6, 7, 8), s(-68.6, 4, 5, 6, 7, 9), false, gate5)
	notes := strings.Join(row.Notes, "\n")
	if !strings.Contains(notes, "moves with everything else on the host") || !strings.Contains(notes, "1 NEW value(s) kept out (e.g. -68.6)") {
		t.Errorf("notes: %s", notes)
	}
}

func TestMachineReadableFormats(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	res := runsOf(dataset([]series{{"runc", "total", "", "", draw(rng, 3, 100, 0.01)}, {"crun", "total", "", "", draw(rng, 10, 100, 0.01)}}),
		dataset([]series{{"runc", "total", "", "", draw(rng, 3, 100, 0.01)}}), gate5)
	var js bytes.Buffer
	if err := Write(&js, res, "json"); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rows []struct {
			Series string
			Old    struct {
				MedianCI struct {
					Lo  *float64
					OK  bool
					Why string
				} `json:"median_ci"`
			}
			Verdict string
		}
		Gate struct {
			Passed   bool
			Failures []GateFailure
		}
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, js.String())
	}
	if len(doc.Rows) != 1 || doc.Rows[0].Old.MedianCI.OK || doc.Rows[0].Old.MedianCI.Lo != nil || doc.Rows[0].Old.MedianCI.Why != "n too small" ||
		doc.Rows[0].Verdict != "undetectable" || doc.Gate.Passed || len(doc.Gate.Failures) != 2 {
		t.Errorf("json document %+v", doc)
	}
	var c bytes.Buffer
	if err := Write(&c, res, "csv"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&c).ReadAll()
	if err != nil || len(recs) != 2 || len(recs[0]) != len(recs[1]) {
		t.Errorf("csv: %v %v", recs, err)
	}
	var md bytes.Buffer
	if err := Write(&md, res, "md"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| runc startup/total |") || !strings.Contains(md.String(), "**Gate failed:**") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

func declaredCaveat(t *testing.T, metric string) string {
	t.Helper()
	for _, m := range (density.Density{}).Metrics() {
		if m.Name == metric && m.Caveat != "" {
			return m.Caveat
		}
	}
	t.Fatalf("density declares no caveat for %s", metric)
	return ""
}

func TestSeriesWithoutUsableValuesFailsTheGate(t *testing.T) {
	old := dataset([]series{{"runc", "mem", "MiB", results.Lower, []float64{5, 5.1, 5.2, 5.0, 4.9, 5.1}}})
	cur := dataset([]series{{"runc", "mem", "MiB", results.Lower, []float64{-1, -2, -3, -4, -5, -6}}})
	res := runsOf(old, cur, gate5)
	if got := reasons(res); got[ReasonUnusable] != 1 || len(res.Gate) != 1 || !strings.Contains(res.Gate[0].Message, "no usable values (6 old, 0 new)") {
		t.Errorf("gate %+v, want one unusable line", res.Gate)
	}
	if v := Verdict(res.Rows[0]); v != "unusable" {
		t.Errorf("verdict %q", v)
	}
}

// Paired rounds have their own smallest p: 4 rounds can never reach 5% (2/16), 6 can.
func TestFewPairedRoundsCannotDetect(t *testing.T) {
	// a has a fifth trial that b lacks: it has no partner and stays out of the test.
	d := dataset([]series{{"a", "total", "", "", []float64{10, 11, 12, 13, 14}}, {"b", "total", "", "", []float64{20, 21, 22, 23}}})
	only := func(rt string) side {
		return side{data: d,
			key: func(k results.SeriesKey) (results.SeriesKey, bool) {
				ok := k.Runtime == rt
				k.Runtime = "a → b"
				return k, ok
			},
			trial: func(k results.TrialKey) (results.TrialKey, bool) {
				ok := k.Runtime == rt
				k.Runtime = "a → b"
				return k, ok
			}}
	}
	res := &Result{OldName: "a", NewName: "b", Options: gate5}
	res.compare(only("a"), only("b"), true)
	r := res.Rows[0]
	if !r.Paired || r.Pairs != 4 || r.Detectable || r.Shift.Estimate != 10 || r.TrialsNeeded != 6 {
		t.Errorf("row paired=%v pairs=%d detectable=%v shift=%g needed=%d", r.Paired, r.Pairs, r.Detectable, r.Shift.Estimate, r.TrialsNeeded)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "1 value(s) without a partner") {
		t.Errorf("notes %q do not count the unpaired value", r.Notes)
	}
	if len(res.Gate) != 1 || !strings.Contains(res.Gate[0].Message, "4 paired rounds") || !strings.Contains(res.Gate[0].Message, "at least 6 paired rounds") {
		t.Errorf("gate %+v", res.Gate)
	}
}
