package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// group is the rows of one host, benchmark, metric and params, in runtime order.
type group struct {
	Host, Benchmark, Metric, Params, Unit string
	Better                                string
	Rows                                  []Row
}

func (g group) title() string {
	return results.SeriesKey{Benchmark: g.Benchmark, Metric: g.Metric, Params: g.Params}.Title()
}

func (g group) unitNote() string {
	u := g.Unit
	if u == "" {
		u = "no unit"
	}
	if g.Better != "" {
		u += ", " + g.Better + " is better"
	}
	return u
}

// groups splits sorted rows into metric groups.
func (a *Analysis) groups() []group {
	var gs []group
	for _, r := range a.Rows {
		n := len(gs)
		if n == 0 || gs[n-1].Host != r.Host || gs[n-1].Benchmark != r.Benchmark || gs[n-1].Metric != r.Metric || gs[n-1].Params != r.Params {
			gs = append(gs, group{Host: r.Host, Benchmark: r.Benchmark, Metric: r.Metric, Params: r.Params, Unit: r.Unit, Better: string(r.Better)})
			n++
		}
		gs[n-1].Rows = append(gs[n-1].Rows, r)
	}
	return gs
}

func (a *Analysis) baselineOf(host string) string {
	for _, h := range a.Hosts {
		if h.Host == host {
			return h.Baseline
		}
	}
	return DefaultBaseline
}

// num formats a value with 4 significant digits.
func num(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// medianWithCI is "median ± x%" where x is the larger half-width of the interval, as benchstat shows.
func medianWithCI(r Row) string {
	s := r.Summary
	if !s.MedianCI.OK {
		return num(s.Median) + " (" + stats.TooSmall + ")"
	}
	if s.Median == 0 {
		return num(s.Median)
	}
	half := math.Max(s.Median-s.MedianCI.Lo, s.MedianCI.Hi-s.Median) / math.Abs(s.Median)
	return fmt.Sprintf("%s ± %s%%", num(s.Median), strconv.FormatFloat(100*half, 'f', pctDigits(half), 64))
}

// medianCIText is the median's interval with its actual coverage, or why there is none.
func medianCIText(r Row) string {
	ci := r.Summary.MedianCI
	if !ci.OK {
		return stats.TooSmall
	}
	return fmt.Sprintf("[%s, %s] (%s)", num(ci.Lo), num(ci.Hi), coverageText(ci.Coverage))
}

// coverageText is an interval's actual coverage, "96.9%", never rounded up to the level.
func coverageText(c float64) string {
	return strconv.FormatFloat(math.Floor(1000*c)/10, 'f', 1, 64) + "%"
}

func ratioText(r Row) string {
	switch {
	case math.IsNaN(r.Ratio):
		return "-"
	case r.IsBaseline():
		return "1"
	}
	if !r.RatioCI.OK {
		return fmt.Sprintf("%.3g× (interval: %s)", r.Ratio, stats.TooSmall)
	}
	return fmt.Sprintf("%.3g× [%.3g, %.3g]", r.Ratio, r.RatioCI.Lo, r.RatioCI.Hi)
}

// Table writes a terminal table in the manner of benchstat: per host a block per
// metric, a row per runtime with its median ± 95% CI, the ratio to the baseline
// with its interval, n and notes.
func Table(w io.Writer, a *Analysis) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	host := "\x00"
	for _, g := range a.groups() {
		if g.Host != host {
			if host != "\x00" {
				fmt.Fprintln(tw)
			}
			host = g.Host
			fmt.Fprintf(tw, "host: %s   baseline: %s\n", g.Host, a.baselineOf(g.Host))
		}
		fmt.Fprintf(tw, "\n%s (%s)\n", g.title(), g.unitNote())
		fmt.Fprintf(tw, "runtime\tclass\tmedian ± 95%% CI\tp5\tp95\tvs %s [95%% CI]\tn\tnotes\n", a.baselineOf(g.Host))
		for _, r := range g.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Runtime, orDash(r.Class), medianWithCI(r),
				num(r.Summary.P5), num(r.Summary.P95), ratioText(r), r.Summary.N, r.Notes())
		}
	}
	writeEngineOverheads(tw, a.engineOverheads(), false)
	if len(a.Warnings) > 0 {
		fmt.Fprintln(tw, "\nwarnings:")
		for _, wn := range a.Warnings {
			fmt.Fprintln(tw, "  - "+wn)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// What the run found comes last, where the terminal shows it.
	return writeFindings(w, a, false)
}

// CSVHeader are the columns of the tidy CSV: one row per host, runtime, benchmark,
// metric and params.
var CSVHeader = []string{"host", "runtime", "class", "emulated", "benchmark", "metric", "params", "unit", "better",
	"n", "median", "median_ci_low", "median_ci_high", "mean", "stddev", "cv", "min", "max", "p5", "p95", "p99",
	"baseline", "ratio", "ratio_ci_low", "ratio_ci_high", "noisy", "notes"}

// CSV writes the tidy CSV; numbers are full precision, NaN is an empty cell.
func CSV(w io.Writer, a *Analysis) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("writing csv: %w", err)
	}
	f := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	for _, r := range a.Rows {
		s := r.Summary
		rec := []string{r.Host, r.Runtime, r.Class, strconv.FormatBool(r.Emulated), r.Benchmark, r.Metric, r.Params, r.Unit, string(r.Better),
			strconv.Itoa(s.N), f(s.Median), f(s.MedianCI.Lo), f(s.MedianCI.Hi), f(s.Mean), f(s.StdDev), f(s.CV), f(s.Min), f(s.Max),
			f(s.P5), f(s.P95), f(s.P99), r.Baseline, f(r.Ratio), f(r.RatioCI.Lo), f(r.RatioCI.Hi), strconv.FormatBool(r.Noisy), r.Notes()}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("writing csv: %w", err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// Markdown writes a Markdown report: warnings, then a table per metric.
func Markdown(w io.Writer, a *Analysis) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# %s\n\n", mdEscape(a.title()))
	fmt.Fprintf(b, "%d samples in %d series. Medians with distribution-free order-statistic intervals of at least 95%% coverage (the actual coverage shown; %q below 6 samples); ratios of medians to the baseline with the interval of the Mann-Whitney test on the logarithms; percentiles by the numpy \"linear\" definition.\n\n",
		a.Samples, len(a.Rows), stats.TooSmall)
	if len(a.Warnings) > 0 {
		b.WriteString("## Warnings\n\n")
		for _, wn := range a.Warnings {
			fmt.Fprintf(b, "- %s\n", mdEscape(wn))
		}
		b.WriteString("\n")
	}
	if err := writeFindings(b, a, true); err != nil {
		return err
	}
	writeEngineOverheads(b, a.engineOverheads(), true)
	host := "\x00"
	for _, g := range a.groups() {
		if g.Host != host {
			host = g.Host
			fmt.Fprintf(b, "## Host %s (baseline %s)\n\n", mdEscape(g.Host), mdEscape(a.baselineOf(g.Host)))
		}
		fmt.Fprintf(b, "### %s\n\n%s\n\n", mdEscape(g.title()), mdEscape(g.unitNote()))
		fmt.Fprintf(b, "| runtime | class | median | 95%% CI | p5 | p95 | vs %s | n | notes |\n|---|---|---:|---|---:|---:|---|---:|---|\n", mdEscape(a.baselineOf(g.Host)))
		for _, r := range g.Rows {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %d | %s |\n", mdEscape(r.Runtime), orDash(r.Class), num(r.Summary.Median),
				medianCIText(r), num(r.Summary.P5), num(r.Summary.P95), ratioText(r), r.Summary.N, mdEscape(r.Notes()))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape makes s inline Markdown text that renders as itself: no line break that
// would start a new block, no emphasis, code, link, image, HTML or table syntax.
func mdEscape(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return mdEscaper.Replace(s)
}

var mdEscaper = strings.NewReplacer(`\`, `\\`, "|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`,
	"#", `\#`, "!", `\!`, "~", `\~`, "<", "&lt;", ">", "&gt;", "&", "&amp;")

func (a *Analysis) title() string {
	if a.Options.Title != "" {
		return a.Options.Title
	}
	return "isobench report"
}

// pctDigits shows small relative widths with one decimal, so a tight interval is not "± 0%".
func pctDigits(frac float64) int {
	if frac < 0.1 {
		return 1
	}
	return 0
}

// declared is what the run on host recorded about a benchmark's metric (zero when
// nothing was: a run from before metrics were declared).
func (a *Analysis) declared(host, benchmark, metric string) results.MetricInfo {
	for _, h := range a.Hosts {
		if h.Host == host {
			m, _ := h.Env.Metric(benchmark, metric)
			return m
		}
	}
	return results.MetricInfo{}
}

// writeFindings writes the first screen's sentences per host and question.
func writeFindings(w io.Writer, a *Analysis, markdown bool) error {
	host := "\x00"
	for _, p := range a.Panels {
		if p.Host != host {
			host = p.Host
			if markdown {
				fmt.Fprintf(w, "## Findings: host %s, against %s\n\n", mdEscape(p.Host), mdEscape(p.Reference))
			} else {
				fmt.Fprintf(w, "\nfindings on %s, every runtime against %s (differences only where the rank test finds one at 5%%, Holm-corrected):\n", p.Host, p.Reference)
			}
		}
		var texts []string
		for _, s := range p.Sentences {
			texts = append(texts, s.Text)
		}
		if markdown {
			fmt.Fprintf(w, "- **%s**: %s\n", p.Topic.Title, mdEscape(strings.Join(texts, " ")))
		} else {
			fmt.Fprintf(w, "  %s: %s\n", p.Topic.Title, strings.Join(texts, " "))
		}
	}
	if markdown && len(a.Panels) > 0 {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}
