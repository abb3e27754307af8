package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/isobench/isobench/internal/compare"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// topic is one question the first screen answers, with the metric that answers it.
type topic struct {
	ID, Title, Question string
	Benchmark, Metric   string
	// Verb and Noun word the sentences: "crun <Verb> 29 ms", "52% of runc's <Noun>".
	Verb, Noun string
	// Sweep is the param a line chart draws on its x axis (density's n); "" for bars.
	Sweep string
}

// topics are the thesis's questions in the order the first screen asks them.
var topics = []topic{
	{ID: "startup", Title: "Start-up", Question: "create until deleted",
		Benchmark: "startup", Metric: "total", Verb: "runs a container from create to delete in", Noun: "start-up time"},
	{ID: "cpu", Title: "CPU", Question: "sysbench cpu",
		Benchmark: "cpu", Metric: "events_per_second", Verb: "computes", Noun: "CPU speed"},
	{ID: "memory", Title: "Memory", Question: "sysbench memory",
		Benchmark: "memory", Metric: "throughput", Verb: "moves memory at", Noun: "memory bandwidth"},
	{ID: "network", Title: "Network", Question: "iperf3 TCP to the host",
		Benchmark: "network", Metric: "throughput", Verb: "moves", Noun: "TCP throughput"},
	{ID: "http", Title: "HTTP", Question: "apache2 under load",
		Benchmark: "http", Metric: "requests_per_second", Verb: "serves", Noun: "request rate"},
	{ID: "density", Title: "Density", Question: "memory per running container",
		Benchmark: "density", Metric: "pss_per_container", Verb: "needs", Noun: "memory per container", Sweep: "n"},
}

// Panel is one topic of one host on the first screen: its chart and its sentences.
type Panel struct {
	Topic     topic
	Host      string
	Reference string
	// Params of the series the sentences speak about (density: the largest n).
	Params    string
	Unit      string
	Better    results.Better
	Sentences []Sentence
	// Rows are the headline rows of every runtime, in runtime order.
	Rows []Row
	// Comparisons hold each runtime's comparison with the reference, by runtime.
	Comparisons map[string]compare.Row
	// Note qualifies the question for this run ("host: no create or delete step").
	Note string
}

// Sentence kinds: what a sentence claims.
const (
	// SentenceDifference claims that a runtime differs from the reference; it is only
	// written when the comparison's test is significant (Holm-corrected).
	SentenceDifference = "difference"
	// SentenceNoDifference says that no difference was shown.
	SentenceNoDifference = "no-difference"
	// SentenceTooFew says that the design cannot show a difference at all.
	SentenceTooFew = "too-few"
	// SentenceValue states a value without comparing.
	SentenceValue = "value"
)

// Sentence is one generated sentence under a chart.
type Sentence struct {
	Kind     string
	Runtimes []string
	Text     string
}

// findings builds the panels of every host: per topic the headline series, each
// runtime compared with the reference by compare's test (paired rounds of the
// interleaved run, Hodges-Lehmann shift with the interval of that test, Holm over the
// topics of one runtime), and the sentences those verdicts allow.
func (a *Analysis) findings(d *results.Dataset) []Panel {
	var panels []Panel
	for _, h := range a.Hosts {
		var hostPanels []Panel
		for _, t := range topics {
			p, ok := a.headline(h, t)
			if ok {
				hostPanels = append(hostPanels, p)
			}
		}
		if len(hostPanels) == 0 {
			continue
		}
		a.compareHeadlines(d, h, hostPanels)
		for i := range hostPanels {
			hostPanels[i].Sentences = sentences(hostPanels[i])
			if hostPanels[i].Topic.ID == "startup" {
				hostPanels[i].Note = a.startupNote(hostPanels[i])
			}
		}
		panels = append(panels, hostPanels...)
	}
	return panels
}

// headline picks the series of a topic on a host: the metric's params measured for
// the most runtimes (density: the largest n), and its rows.
func (a *Analysis) headline(h HostInfo, t topic) (Panel, bool) {
	// The benchmark's own word on its headline metric wins over the topic's default.
	if h.Env != nil {
		for _, mi := range h.Env.Metrics {
			if mi.Benchmark == t.Benchmark && mi.Headline && mi.Name != t.Metric {
				t.Metric, t.Verb, t.Noun = mi.Name, "measures", strings.ReplaceAll(mi.Name, "_", " ")
				break
			}
		}
	}
	byParams := map[string][]Row{}
	for _, r := range a.Rows {
		if r.Host == h.Host && r.Benchmark == t.Benchmark && r.Metric == t.Metric && r.Summary.N > 0 {
			byParams[r.Params] = append(byParams[r.Params], r)
		}
	}
	if len(byParams) == 0 {
		return Panel{}, false
	}
	var best string
	first := true
	for params, rows := range byParams {
		switch {
		case first:
		case t.Sweep != "":
			if !sweepLess(byParams[best], rows, best, params, t.Sweep) {
				continue
			}
		case len(rows) < len(byParams[best]):
			continue
		case len(rows) == len(byParams[best]) && !paramsLess(params, best):
			continue
		}
		best, first = params, false
	}
	rows := slices.Clone(byParams[best])
	// Within a class the runtimes driven directly come before the engines that drive them.
	engine := func(r Row) bool {
		if h.Env == nil {
			return false
		}
		ri, ok := h.Env.Runtimes[r.Runtime]
		return ok && ri.Options[runtime.OptionOCIRuntime] != "" && ri.Options[runtime.OptionOCIRuntime] != r.Runtime
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if ca, cb := classRank(a.Class), classRank(b.Class); ca != cb {
			return ca < cb
		}
		if ea, eb := engine(a), engine(b); ea != eb {
			return !ea
		}
		return a.Runtime < b.Runtime
	})
	return Panel{Topic: t, Host: h.Host, Reference: h.Baseline, Params: best, Unit: rows[0].Unit, Better: rows[0].Better,
		Rows: rows}, true
}

// sweepLess prefers more runtimes, then the larger value of the sweep param.
func sweepLess(bestRows, rows []Row, best, params, sweep string) bool {
	if len(rows) != len(bestRows) {
		return len(rows) > len(bestRows)
	}
	return sweepValue(best, sweep) < sweepValue(params, sweep)
}

func sweepValue(params, sweep string) float64 {
	p, err := results.ParseParams(params)
	if err != nil {
		return math.NaN()
	}
	var v float64
	if _, err := fmt.Sscanf(p[sweep], "%g", &v); err != nil {
		return math.NaN()
	}
	return v
}

// compareHeadlines compares every runtime of the host with the reference over the
// headline series of all topics at once, so Holm corrects over what the first screen
// claims about that runtime.
func (a *Analysis) compareHeadlines(d *results.Dataset, h HostInfo, panels []Panel) {
	headline := &results.Dataset{Runs: d.Runs, Series: map[results.SeriesKey]*results.Series{}, Succeeded: d.Succeeded}
	runtimes := map[string]bool{}
	for _, p := range panels {
		for _, r := range p.Rows {
			k := r.Key()
			if s := d.Series[k]; s != nil {
				headline.Series[k] = s
				runtimes[r.Runtime] = true
			}
		}
	}
	if !runtimes[h.Baseline] {
		return
	}
	for rt := range runtimes {
		if rt == h.Baseline {
			continue
		}
		res, err := compare.RuntimesOf(headline, "", h.Baseline, rt, compare.Options{})
		if err != nil {
			continue // the runtime lacks every headline series of the reference
		}
		for _, row := range res.Rows {
			for i := range panels {
				p := &panels[i]
				if row.Benchmark == p.Topic.Benchmark && row.Metric == p.Topic.Metric && row.Params == p.Params {
					if p.Comparisons == nil {
						p.Comparisons = map[string]compare.Row{}
					}
					p.Comparisons[rt] = row
				}
			}
		}
	}
}

// sentences words what the panel's comparisons allow: at most three sentences, the
// clearest difference in each direction first, then what could not be told apart.
func sentences(p Panel) []Sentence {
	ref := p.Reference
	var refRow *Row
	for i := range p.Rows {
		if p.Rows[i].Runtime == ref {
			refRow = &p.Rows[i]
		}
	}
	if refRow == nil {
		return []Sentence{{Kind: SentenceValue, Text: fmt.Sprintf("The reference %s has no %s samples here, so nothing is compared; choose another with --baseline.", ref, p.Topic.Noun)}}
	}
	var better, worse, same, tooFew []Row
	for _, r := range p.Rows {
		if r.Runtime == ref {
			continue
		}
		c, ok := p.Comparisons[r.Runtime]
		switch {
		case !ok:
		case c.Improved:
			better = append(better, r)
		case c.Worse:
			worse = append(worse, r)
		case !c.Detectable:
			tooFew = append(tooFew, r)
		default:
			same = append(same, r)
		}
	}
	// goodness orders runtimes from best to worst in the metric's direction.
	goodness := func(r Row) float64 {
		ch := p.Comparisons[r.Runtime].Change
		if p.Better == results.Higher {
			return ch
		}
		return -ch
	}
	byGoodness := func(rows []Row) {
		sort.SliceStable(rows, func(i, j int) bool { return goodness(rows[i]) > goodness(rows[j]) })
	}
	byGoodness(better)
	byGoodness(worse)
	// Emulated runtimes are not comparable: the worst named is a real one.
	var realWorse []Row
	for _, r := range worse {
		if !r.Emulated {
			realWorse = append(realWorse, r)
		}
	}
	var out []Sentence
	said := map[string]bool{}
	say := func(r Row) {
		if !said[r.Runtime] && len(out) < 3 {
			said[r.Runtime] = true
			out = append(out, differenceSentence(p, r, *refRow))
		}
	}
	// The best runtime (better than the reference, else the least worse), then the worst.
	switch {
	case len(better) > 0:
		say(better[0])
	case len(realWorse) > 0:
		say(realWorse[0])
	}
	if len(realWorse) > 0 {
		say(realWorse[len(realWorse)-1])
	}
	if len(out) == 0 && len(tooFew) == 0 {
		out = append(out, Sentence{Kind: SentenceValue, Runtimes: []string{ref},
			Text: fmt.Sprintf("%s (the reference) %s %s.", ref, p.Topic.Verb, valueText(*refRow))})
	}
	if len(same) > 0 && len(out) < 3 {
		names := runtimeNames(same)
		out = append(out, Sentence{Kind: SentenceNoDifference, Runtimes: names,
			Text: fmt.Sprintf("%s: no difference from %s shown (rank test, 5%% level).", joinNames(names), ref)})
	}
	if len(tooFew) > 0 && len(out) < 3 {
		names := runtimeNames(tooFew)
		c := p.Comparisons[tooFew[0].Runtime]
		// The medians are shown, but as what they are: too few trials to call them different.
		// The best and the worst real runtime, and one between, from best to worst.
		ordered := slices.Clone(tooFew)
		sort.SliceStable(ordered, func(i, j int) bool {
			if ordered[i].Emulated != ordered[j].Emulated {
				return !ordered[i].Emulated
			}
			return p.Better == results.Higher == (ordered[i].Summary.Median > ordered[j].Summary.Median)
		})
		real := len(ordered)
		for real > 0 && ordered[real-1].Emulated {
			real--
		}
		picks := []int{0}
		if real > 2 {
			picks = append(picks, real/2)
		}
		if real > 1 {
			picks = append(picks, real-1)
		}
		var medians []string
		for _, i := range picks {
			medians = append(medians, fmt.Sprintf("%s %s %s", ordered[i].Runtime, plainNum(ordered[i].Summary.Median), p.Unit))
		}
		more := ""
		if len(picks) < len(ordered) {
			more = fmt.Sprintf(" (%d more in the chart)", len(ordered)-len(picks))
		}
		out = append(out, Sentence{Kind: SentenceTooFew, Runtimes: names,
			Text: fmt.Sprintf("Medians: %s%s, against %s's %s %s; but %d trials cannot show a difference at 5%%: run isobench run --trials %d.",
				strings.Join(medians, ", "), more, ref, plainNum(refRow.Summary.Median), p.Unit, min(c.Old.N, c.New.N), c.TrialsNeeded)})
	}
	// Room left: the worst among those better, or the next real one among those worse.
	if len(better) > 1 {
		say(better[len(better)-1])
	}
	if len(realWorse) > 2 {
		say(realWorse[len(realWorse)/2])
	}
	return out
}

func runtimeNames(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Runtime
	}
	return out
}

func joinNames(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// valueText is "29 ms [27, 32]": the median and its interval, when there is one.
func valueText(r Row) string {
	s := r.Summary
	v := plainNum(s.Median) + " " + r.Unit
	if s.MedianCI.OK {
		return fmt.Sprintf("%s [%s, %s]", v, plainNum(s.MedianCI.Lo), plainNum(s.MedianCI.Hi))
	}
	return v + " (n too small for an interval)"
}

// differenceSentence words a significant comparison: the runtime's value and how much
// it differs from the reference, with the interval of the change.
func differenceSentence(p Panel, r Row, ref Row) Sentence {
	c := p.Comparisons[r.Runtime]
	name := r.Runtime
	if r.Emulated {
		name += " (emulated, not comparable)"
	}
	return Sentence{Kind: SentenceDifference, Runtimes: []string{r.Runtime},
		Text: fmt.Sprintf("%s %s %s, %s.", name, p.Topic.Verb, valueText(r), relativeText(p, c, ref.Runtime))}
}

// relativeText is the change relative to the reference in words, with its interval:
// "37% faster than runc [33%, 41%]", "52% of runc's TCP throughput [49%, 55%]".
func relativeText(p Panel, c compare.Row, ref string) string {
	ch, iv := c.Change, c.ChangeCI
	ivOK := finite(iv.Lo, iv.Hi)
	// A level cannot fall below zero (no negative rates or times): the shift's interval,
	// taken relative to the reference's median, is cut there.
	iv.Lo, iv.Hi = math.Max(iv.Lo, -1), math.Max(iv.Hi, -1)
	pctOf := func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }
	interval := func(lo, hi float64) string {
		if !ivOK {
			return ""
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		return fmt.Sprintf(" [%s, %s]", pctOf(lo), pctOf(hi))
	}
	timesText := func(lo, hi float64) string {
		if !ivOK {
			return ""
		}
		return fmt.Sprintf(" [%s, %s]", plainNum(lo), plainNum(hi))
	}
	isTime := p.Unit == "ms" || p.Unit == "us" || p.Unit == "ns" || p.Unit == "s"
	switch {
	case p.Better == results.Higher && ch < 0:
		return fmt.Sprintf("%s of %s's %s%s", pctOf(1+ch), ref, p.Topic.Noun, interval(1+iv.Lo, 1+iv.Hi))
	case p.Better == results.Higher:
		if ch >= 1 {
			return fmt.Sprintf("%s times %s's %s%s", plainNum(1+ch), ref, p.Topic.Noun, timesText(1+iv.Lo, 1+iv.Hi))
		}
		return fmt.Sprintf("%s more than %s%s", pctOf(ch), ref, interval(iv.Lo, iv.Hi))
	case ch >= 1 && isTime:
		return fmt.Sprintf("%s times as long as %s%s", plainNum(1+ch), ref, timesText(1+iv.Lo, 1+iv.Hi))
	case ch >= 1:
		return fmt.Sprintf("%s times as much as %s%s", plainNum(1+ch), ref, timesText(1+iv.Lo, 1+iv.Hi))
	case isTime && ch < 0:
		return fmt.Sprintf("%s faster than %s%s", pctOf(-ch), ref, interval(-iv.Hi, -iv.Lo))
	case isTime:
		return fmt.Sprintf("%s slower than %s%s", pctOf(ch), ref, interval(iv.Lo, iv.Hi))
	case ch < 0:
		return fmt.Sprintf("%s less than %s%s", pctOf(-ch), ref, interval(-iv.Hi, -iv.Lo))
	}
	return fmt.Sprintf("%s more than %s%s", pctOf(ch), ref, interval(iv.Lo, iv.Hi))
}

// plainNum writes a value for a sentence: whole numbers from 100 on, three significant
// digits below, never in exponent notation.
func plainNum(v float64) string {
	if !finite(v) {
		return "-"
	}
	a := math.Abs(v)
	if a >= 100 || a == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	digits := min(max(2-int(math.Floor(math.Log10(a))), 0), 9)
	return strconv.FormatFloat(v, 'f', digits, 64)
}

// startupNote names the runtimes whose start-up has no create or delete step (a plain
// process), whose time is therefore start to exit only.
func (a *Analysis) startupNote(p Panel) string {
	has := map[string]bool{}
	for _, r := range a.Rows {
		if r.Host == p.Host && r.Benchmark == "startup" && (r.Metric == "create" || r.Metric == "delete") && r.Summary.N > 0 {
			has[r.Runtime] = true
		}
	}
	var without []string
	for _, r := range p.Rows {
		if !has[r.Runtime] {
			without = append(without, r.Runtime)
		}
	}
	if len(without) == 0 || len(without) == len(p.Rows) {
		return ""
	}
	return joinNames(without) + ": no create or delete step, start to exit only"
}
