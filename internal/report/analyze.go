package report

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// MinNoiseN is the fewest samples whose coefficient of variation means anything; a
// series with fewer is never flagged noisy.
const MinNoiseN = 6

// DefaultNoiseCV is the coefficient of variation above which a series is flagged noisy.
const DefaultNoiseCV = 0.10

// DefaultBaseline is the baseline runtime when neither the option nor environment.json names one.
const DefaultBaseline = "host"

// EmulatedNote marks every row and chart label of an emulated runtime.
const EmulatedNote = "emulated, not comparable"

// Options tune a report.
type Options struct {
	// Baseline is the runtime every other is divided by; "" takes environment.json's
	// baseline, else DefaultBaseline.
	Baseline string
	// NoiseCV flags series whose coefficient of variation is above it; 0 means DefaultNoiseCV.
	NoiseCV float64
	// Title heads the HTML and Markdown reports; "" means "isobench report".
	Title string
}

func (o Options) noiseCV() float64 { return cmp.Or(o.NoiseCV, DefaultNoiseCV) }

// Row is the statistics of one series.
type Row struct {
	Host      string         `json:"host"`
	Runtime   string         `json:"runtime"`
	Class     string         `json:"class"`
	Emulated  bool           `json:"emulated"`
	Benchmark string         `json:"benchmark"`
	Metric    string         `json:"metric"`
	Params    string         `json:"params"`
	Unit      string         `json:"unit"`
	Better    results.Better `json:"better"`
	Summary   stats.Summary  `json:"summary"`
	// Baseline is the runtime Ratio divides by; Ratio is the ratio of medians, NaN when
	// that runtime has no matching series (or its median is zero). RatioCI is the
	// interval of the ratio that inverts the Mann-Whitney test on the logarithms (see
	// stats.RatioInterval); not OK when the samples are too few for 95%.
	Baseline string                `json:"baseline"`
	Ratio    float64               `json:"ratio"`
	RatioCI  stats.CoveredInterval `json:"ratio_ci"`
	Noisy    bool                  `json:"noisy"`
	// Values are the sorted samples, for charts.
	Values []float64 `json:"-"`
	// Info lists the facts the samples carried ("stack=linux-veth"), comma-separated.
	Info string `json:"info,omitempty"`
	// Caveats are what a reader must know before trusting the numbers: values kept out
	// of the statistics because they cannot be measurements, and metrics that move with
	// the whole host (the same words compare uses).
	Caveats []string `json:"caveats,omitempty"`
}

// IsBaseline tells whether the row is its own baseline.
func (r Row) IsBaseline() bool { return r.Runtime == r.Baseline }

// Key is the series the row summarises.
func (r Row) Key() results.SeriesKey {
	return results.SeriesKey{Host: r.Host, Runtime: r.Runtime, Benchmark: r.Benchmark, Metric: r.Metric, Params: r.Params}
}

// Notes are the row's warnings in words.
func (r Row) Notes() string {
	var notes []string
	if r.Info != "" {
		notes = append(notes, r.Info)
	}
	notes = append(notes, r.Caveats...)
	if r.Emulated {
		notes = append(notes, EmulatedNote)
	}
	if r.Noisy {
		notes = append(notes, fmt.Sprintf("noisy (CV %.1f%%)", 100*r.Summary.CV))
	}
	if r.IsBaseline() {
		notes = append(notes, "baseline")
	}
	return strings.Join(notes, "; ")
}

// Label names the runtime in tables and charts, marked when emulated.
func (r Row) Label() string {
	if r.Emulated {
		return r.Runtime + " (" + EmulatedNote + ")"
	}
	return r.Runtime
}

// HostInfo is the environment of one host.
type HostInfo struct {
	Host     string
	Baseline string
	Env      *results.Environment
	RunDirs  []string
}

// Analysis is a whole report's content.
type Analysis struct {
	Options  Options
	Hosts    []HostInfo
	Rows     []Row
	Failures []results.FailureCount
	Samples  int
	Warnings []string
	// Panels are the first screen: per host and question a chart and its sentences.
	Panels []Panel
}

// Load reads the run directories and computes every statistic.
func Load(ctx context.Context, dirs []string, opts Options) (*Analysis, error) {
	d, err := results.LoadDataset(ctx, dirs)
	if err != nil {
		return nil, err
	}
	return Analyze(ctx, d, opts)
}

var classOrder = map[string]int{"process": 0, "container": 1, "sandbox": 2, "vm": 3}

// Analyze computes the statistics of every series of d.
func Analyze(ctx context.Context, d *results.Dataset, opts Options) (*Analysis, error) {
	a := &Analysis{Options: opts, Failures: d.Failures, Samples: d.Samples, Warnings: append([]string(nil), d.Warnings...)}
	hosts := map[string]*HostInfo{}
	for _, run := range d.Runs {
		for _, h := range run.Hosts {
			hi := hosts[h]
			if hi == nil {
				hi = &HostInfo{Host: h, Env: d.EnvironmentFor(h)}
				hi.Baseline = opts.Baseline
				if hi.Baseline == "" && hi.Env != nil {
					hi.Baseline = hi.Env.Baseline
				}
				if hi.Baseline == "" {
					hi.Baseline = DefaultBaseline
				}
				hosts[h] = hi
			}
			hi.RunDirs = append(hi.RunDirs, run.Dir)
		}
	}
	for _, s := range d.Series {
		hi := hosts[s.Key.Host]
		row := Row{Host: s.Key.Host, Runtime: s.Key.Runtime, Benchmark: s.Key.Benchmark, Metric: s.Key.Metric,
			Params: s.Key.Params, Unit: s.Unit, Better: s.Better, Baseline: hi.Baseline, Emulated: s.Emulated,
			Info: strings.Join(slices.Sorted(maps.Keys(s.Info)), ", ")}
		row.Values, row.Caveats = plausibleValues(s)
		if hi.Env != nil {
			if ri, ok := hi.Env.Runtimes[s.Key.Runtime]; ok {
				row.Class, row.Emulated = ri.Class, ri.Emulated
			}
		}
		a.Rows = append(a.Rows, row)
	}
	sortRows(a.Rows)

	err := eachParallel(ctx, len(a.Rows), func(i int) {
		r := &a.Rows[i]
		r.Summary = stats.SummarizeSorted(r.Values)
		r.Noisy = r.Summary.N >= MinNoiseN && stats.Noisy(r.Summary, opts.noiseCV())
		r.Ratio, r.RatioCI = math.NaN(), stats.CoveredInterval{Interval: stats.Interval{Lo: math.NaN(), Hi: math.NaN()}}
		base := d.Series[r.Key().WithRuntime(r.Baseline)]
		var baseValues []float64
		if base != nil {
			baseValues, _ = plausibleValues(base)
		}
		if len(baseValues) > 0 && len(r.Values) > 0 {
			if r.IsBaseline() {
				r.Ratio, r.RatioCI = 1, stats.CoveredInterval{Interval: stats.Interval{Lo: 1, Hi: 1}, Coverage: 1, OK: true}
			} else {
				r.Ratio, r.RatioCI = stats.RatioOfMedians(r.Values, baseValues), stats.RatioInterval(r.Values, baseValues, stats.Confidence)
			}
		}
	})
	if err != nil {
		return nil, err
	}

	for _, h := range slices.Sorted(maps.Keys(hosts)) {
		a.Hosts = append(a.Hosts, *hosts[h])
	}
	a.Warnings = append(a.Warnings, a.inputWarnings(d)...)
	a.Panels = a.findings(d)
	return a, nil
}

// inputWarnings lists what a reader of the numbers must know.
func (a *Analysis) inputWarnings(d *results.Dataset) []string {
	var w []string
	for _, hi := range a.Hosts {
		hasBaseline := false
		for _, s := range d.Series {
			if s.Key.Host == hi.Host && s.Key.Runtime == hi.Baseline {
				hasBaseline = true
				break
			}
		}
		if !hasBaseline {
			w = append(w, fmt.Sprintf("host %s: baseline runtime %q has no samples, so there are no ratios; choose one with --baseline", hi.Host, hi.Baseline))
		}
		if env := hi.Env; env != nil {
			if env.Host.Virtualized {
				hv := env.Host.Hypervisor
				if hv == "" {
					hv = "a hypervisor"
				}
				nested := "VM runtimes ran nested inside it"
				if env.Host.NestedVirt != "" {
					nested += " (nested virtualization: " + env.Host.NestedVirt + ")"
				}
				w = append(w, fmt.Sprintf("host %s is a virtual machine (%s): %s, and absolute numbers differ from bare metal",
					hi.Host, hv, nested))
			}
			for _, rt := range slices.Sorted(maps.Keys(env.Runtimes)) {
				if env.Runtimes[rt].Emulated {
					w = append(w, fmt.Sprintf("host %s: runtime %s is emulated (no KVM): %s", hi.Host, rt, EmulatedNote))
				}
			}
			for _, rt := range slices.Sorted(maps.Keys(env.Skipped)) {
				w = append(w, fmt.Sprintf("host %s: runtime %s was skipped: %s", hi.Host, rt, env.Skipped[rt]))
			}
			if env.Interrupted {
				w = append(w, fmt.Sprintf("host %s: the run was interrupted; some series are incomplete", hi.Host))
			}
			if st := env.Stopping; st != nil {
				reasons := map[string]int{}
				for _, ss := range st.Series {
					reasons[ss.Reason]++
				}
				var counts []string
				for _, r := range slices.Sorted(maps.Keys(reasons)) {
					counts = append(counts, fmt.Sprintf("%d %s", reasons[r], r))
				}
				w = append(w, fmt.Sprintf("host %s: the number of trials came from a stopping rule (series: %s): %s",
					hi.Host, strings.Join(counts, ", "), st.Rule))
			}
		}
	}
	for _, f := range a.Failures {
		w = append(w, fmt.Sprintf("host %s: %d failed trial(s) of %s %s, first: %s", f.Host, f.Count, f.Runtime, f.Benchmark, firstLine(f.FirstError)))
	}
	noisy, counted := 0, 0
	for _, r := range a.Rows {
		if r.Summary.N >= MinNoiseN {
			counted++
		}
		if r.Noisy {
			noisy++
		}
	}
	if noisy > 0 {
		w = append(w, fmt.Sprintf("%d of %d series vary by more than %.0f%% between trials (coefficient of variation); the tables mark them noisy",
			noisy, counted, 100*a.Options.noiseCV()))
	}
	if few := len(a.Rows) - counted; few > 0 && counted == 0 {
		w = append(w, fmt.Sprintf("every series has fewer than %d samples: too few to judge noise or give intervals; run more trials (isobench run --trials 10)", MinNoiseN))
	}
	return w
}

// sortRows orders by host, benchmark, metric, params (numbers by value), then
// runtime class (process, container, sandbox, vm) and runtime name.
func sortRows(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Benchmark != b.Benchmark {
			return a.Benchmark < b.Benchmark
		}
		if a.Metric != b.Metric {
			return a.Metric < b.Metric
		}
		if a.Params != b.Params {
			return paramsLess(a.Params, b.Params)
		}
		if ca, cb := classRank(a.Class), classRank(b.Class); ca != cb {
			return ca < cb
		}
		return a.Runtime < b.Runtime
	})
}

func classRank(c string) int {
	if r, ok := classOrder[c]; ok {
		return r
	}
	return len(classOrder)
}

// paramsLess compares params keys pair by pair, numeric values by value, so n=2 comes before n=10.
func paramsLess(a, b string) bool {
	pa, errA := results.ParseParams(a)
	pb, errB := results.ParseParams(b)
	if errA != nil || errB != nil {
		return a < b
	}
	ka, kb := slices.Sorted(maps.Keys(pa)), slices.Sorted(maps.Keys(pb))
	for i := 0; i < len(ka) && i < len(kb); i++ {
		if ka[i] != kb[i] {
			return ka[i] < kb[i]
		}
		va, vb := pa[ka[i]], pb[kb[i]]
		if va == vb {
			continue
		}
		fa, ea := strconv.ParseFloat(va, 64)
		fb, eb := strconv.ParseFloat(vb, 64)
		if ea == nil && eb == nil && fa != fb {
			return fa < fb
		}
		return va < vb
	}
	return len(ka) < len(kb)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func bracket(params string) string {
	if params == "" {
		return ""
	}
	return "[" + params + "]"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// alerts sums the warnings up in one line: what kinds there are, not each.
func (a *Analysis) alerts() string {
	if len(a.Warnings) == 0 {
		return ""
	}
	kinds := []struct{ key, word string }{
		{"emulated", "emulated runtimes (not comparable)"},
		{"failed trial", "failed trials"},
		{"skipped", "skipped runtimes"},
		{"virtual machine", "measured inside a VM"},
		{"noisy", "noisy series"},
		{"vary by more", "noisy series"},
		{"interrupted", "an interrupted run"},
		{"baseline runtime", "a missing baseline"},
		{"fewer than", "too few trials"},
	}
	seen := map[string]bool{}
	var words []string
	for _, w := range a.Warnings {
		for _, k := range kinds {
			if strings.Contains(w, k.key) && !seen[k.word] {
				seen[k.word] = true
				words = append(words, k.word)
			}
		}
	}
	text := fmt.Sprintf("%d warning(s)", len(a.Warnings))
	if len(words) > 0 {
		text += ": " + strings.Join(words, ", ")
	}
	return text + "."
}

// plausibleValues are the series' sorted values that can be measurements, and the
// caveats a reader needs: what was kept out and why, and whether the metric moves with
// the whole host.
func plausibleValues(s *results.Series) ([]float64, []string) {
	var caveats []string
	if s.Caveat != "" {
		caveats = append(caveats, s.Caveat)
	}
	kept := s.Values
	reasons := map[string]int{}
	var order []string
	for i, v := range s.Values {
		why := results.Implausible(s.Unit, v)
		if why == "" {
			if len(reasons) > 0 {
				kept = append(kept, v)
			}
			continue
		}
		if len(reasons) == 0 {
			kept = append([]float64(nil), s.Values[:i]...)
		}
		if reasons[why] == 0 {
			order = append(order, why)
		}
		reasons[why]++
	}
	for _, why := range order {
		caveats = append(caveats, fmt.Sprintf("%d value(s) kept out: %s", reasons[why], why))
	}
	return kept, caveats
}
