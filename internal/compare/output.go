package compare

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/stats"
)

// Formats Write knows.
var Formats = []string{"text", "json", "md", "csv"}

// Write writes the comparison in format (one of Formats).
func Write(w io.Writer, res *Result, format string) error {
	switch format {
	case "text", "":
		return Table(w, res)
	case "json":
		return JSON(w, res)
	case "md":
		return Markdown(w, res)
	case "csv":
		return CSV(w, res)
	}
	return fmt.Errorf("unknown format %q (known: %s)", format, strings.Join(Formats, ", "))
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if math.Abs(v) < 0.0005 { // would print as "-0.0%"
		v = 0
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

func signedPct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	s := pct(v)
	if math.Abs(v) >= 0.0005 && v > 0 {
		s = "+" + s
	}
	return s
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func signed(v float64, unit string) string {
	s := num(v)
	if v > 0 {
		s = "+" + s
	}
	return strings.TrimSpace(s + " " + unit)
}

func intervalPct(iv stats.Interval) string {
	if math.IsNaN(iv.Lo) || math.IsNaN(iv.Hi) {
		return stats.TooSmall
	}
	return signedPct(iv.Lo) + ", " + signedPct(iv.Hi)
}

// medianText is "median [lo, hi] (coverage)" or "median (n too small)".
func medianText(s stats.Summary) string {
	if s.N == 0 {
		return "-"
	}
	if !s.MedianCI.OK {
		return num(s.Median) + " (" + stats.TooSmall + ")"
	}
	return fmt.Sprintf("%s [%s, %s] (%s)", num(s.Median), num(s.MedianCI.Lo), num(s.MedianCI.Hi), coverage(s.MedianCI.Coverage))
}

// coverage is an interval's actual coverage, never rounded up to the level.
func coverage(c float64) string {
	return strconv.FormatFloat(math.Floor(1000*c)/10, 'f', 1, 64) + "%"
}

// changeText is the relative Hodges-Lehmann shift with its interval.
func changeText(r Row) string {
	if math.IsNaN(r.Change) {
		return signed(r.Shift.Estimate, r.Unit)
	}
	if math.IsNaN(r.ChangeCI.Lo) {
		return fmt.Sprintf("%s (interval: %s)", signedPct(r.Change), stats.TooSmall)
	}
	return fmt.Sprintf("%s [%s]", signedPct(r.Change), intervalPct(r.ChangeCI))
}

// Verdict is the row's word: REGRESSION, worse, better, "~" (no significant change)
// or "undetectable" (the design cannot reach significance).
func Verdict(r Row) string {
	switch {
	case r.Regression:
		return "REGRESSION"
	case r.Worse:
		return "worse"
	case r.Improved:
		return "better"
	case r.Old.N == 0 || r.New.N == 0:
		return "unusable"
	case !r.Detectable:
		return "undetectable"
	}
	return "~"
}

func testName(r Row) string {
	if r.Paired {
		return fmt.Sprintf("signed-rank, %d paired rounds", r.Pairs)
	}
	return "Mann-Whitney"
}

// Table writes the comparison as aligned text: old and new median with their
// order-statistic intervals, the change (Hodges-Lehmann shift relative to the old
// median) with its interval, the ratio of medians, the Holm-adjusted p and the verdict.
func Table(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "old: %s\nnew: %s\n\n", res.OldName, res.NewName)
	fmt.Fprintf(tw, "series\tunit\told median [95%% CI] (coverage)\tnew median [95%% CI] (coverage)\tchange [95%% CI]\tratio of medians\tp (Holm)\tn\tverdict\t\n")
	for _, r := range res.Rows {
		n := fmt.Sprintf("%d+%d", r.Old.N, r.New.N)
		if r.Paired {
			n += fmt.Sprintf(" (%d pairs)", r.Pairs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", res.Name(r), r.Unit, medianText(r.Old), medianText(r.New),
			changeText(r), ratioText(r.RatioOfMedians), pValue(r.PAdjusted), n, Verdict(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, line := range legend(res) {
		fmt.Fprintln(w, line)
	}
	for _, r := range res.Rows {
		for _, note := range r.Notes {
			fmt.Fprintf(w, "note: %s: %s\n", res.Name(r), note)
		}
	}
	for _, wn := range res.Warnings {
		fmt.Fprintln(w, "warning: "+wn)
	}
	for _, g := range res.Gate {
		fmt.Fprintf(w, "GATE FAILED (%s): %s\n", g.Reason, g.Message)
	}
	if res.Options.Gate && len(res.Gate) == 0 {
		fmt.Fprintf(w, "gate passed: no significant change worse than %s, nothing missing, no new failures, every series detectable\n", pct(res.Options.Threshold))
	}
	return nil
}

func legend(res *Result) []string {
	test := "Mann-Whitney U test (exact with ties up to about 40 trials per side, seeded permutation test to 1000 values, normal beyond)"
	if res.pairedAny() {
		test = "Wilcoxon signed-rank test on the paired rounds (the same trial of both runtimes in one interleaved run; exact with ties up to a few hundred pairs)"
	}
	lines := []string{
		"change: Hodges-Lehmann shift of new against old, relative to the old median, with the 95% interval that inverts the " + test + ".",
		fmt.Sprintf("~: no significant change (p >= %g after Holm's correction over %d series); better/worse come from the shift's direction.", res.Options.alpha(), len(res.Rows)),
		"intervals are per series, not corrected for the number of series: one may exclude zero while the Holm-corrected verdict is ~.",
		"medians: distribution-free order-statistic intervals with their actual coverage; \"" + stats.TooSmall + "\" below 6 values. ratio of medians: median(new) / median(old).",
	}
	if res.Options.Gate {
		rule := "its estimate"
		if res.Options.WholeInterval {
			rule = "its whole interval"
		}
		lines = append(lines, fmt.Sprintf("REGRESSION: significantly worse with %s beyond %s.", rule, pct(res.Options.Threshold)))
	}
	return lines
}

func (res *Result) pairedAny() bool {
	for _, r := range res.Rows {
		if r.Paired {
			return true
		}
	}
	return false
}

func ratioText(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 3, 64) + "x"
}

func pValue(p float64) string {
	if math.IsNaN(p) {
		return "-"
	}
	return strconv.FormatFloat(p, 'g', 3, 64)
}

// jsonNum is v, or null when v is not a finite number (JSON has no NaN).
func jsonNum(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func jsonInterval(iv stats.Interval, coverage float64, ok bool) any {
	if !ok || math.IsNaN(iv.Lo) || math.IsNaN(iv.Hi) {
		return map[string]any{"lo": nil, "hi": nil, "coverage": jsonNum(coverage), "ok": false, "why": stats.TooSmall}
	}
	return map[string]any{"lo": iv.Lo, "hi": iv.Hi, "coverage": jsonNum(coverage), "ok": true}
}

func jsonSummary(s stats.Summary) map[string]any {
	return map[string]any{"n": s.N, "median": jsonNum(s.Median), "median_ci": jsonInterval(s.MedianCI.Interval, s.MedianCI.Coverage, s.MedianCI.OK),
		"min": jsonNum(s.Min), "max": jsonNum(s.Max), "cv": jsonNum(s.CV)}
}

// JSON writes the comparison as one JSON object for CI bots: every row with its
// statistics, the gate's reasons and the warnings. Numbers that do not exist are null.
func JSON(w io.Writer, res *Result) error {
	rows := make([]map[string]any, 0, len(res.Rows))
	for _, r := range res.Rows {
		params, err := results.ParseParams(r.Params)
		if err != nil {
			return fmt.Errorf("reading the params of %s: %w", res.Name(r), err)
		}
		excluded := r.Excluded
		if excluded == nil {
			excluded = []Excluded{}
		}
		rows = append(rows, map[string]any{
			"series": res.Name(r), "host": r.Host, "runtime": r.Runtime, "benchmark": r.Benchmark, "metric": r.Metric,
			"params": params, "unit": r.Unit, "better": r.Better,
			"old": jsonSummary(r.Old), "new": jsonSummary(r.New),
			"shift":            map[string]any{"estimate": jsonNum(r.Shift.Estimate), "ci": jsonInterval(r.Shift.CI.Interval, r.Shift.CI.Coverage, r.Shift.CI.OK)},
			"change":           map[string]any{"estimate": jsonNum(r.Change), "ci": jsonInterval(r.ChangeCI, r.Shift.CI.Coverage, r.Shift.CI.OK && !math.IsNaN(r.ChangeCI.Lo))},
			"ratio_of_medians": jsonNum(r.RatioOfMedians),
			"test":             testName(r), "method": r.Test.Method, "paired": r.Paired, "pairs": r.Pairs,
			"p": jsonNum(r.P), "p_adjusted": jsonNum(r.PAdjusted), "min_adjusted_p": jsonNum(r.MinAdjustedP),
			"significant": r.Significant, "direction": r.Direction, "verdict": Verdict(r), "regression": r.Regression,
			"detectable": r.Detectable, "excluded": excluded, "notes": nonNil(r.Notes),
		})
	}
	gate := map[string]any{"enabled": res.Options.Gate}
	if res.Options.Gate {
		failures := res.Gate
		if failures == nil {
			failures = []GateFailure{}
		}
		gate["threshold"] = res.Options.Threshold
		gate["whole_interval"] = res.Options.WholeInterval
		gate["passed"] = len(res.Gate) == 0
		gate["failures"] = failures
	}
	out := map[string]any{"old": res.OldName, "new": res.NewName, "alpha": res.Options.alpha(), "rows": rows,
		"missing": nonNil(res.Missing), "added": nonNil(res.Added), "gate": gate, "warnings": nonNil(res.Warnings)}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// mdEscape keeps a value from breaking a Markdown table or starting markup.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// Markdown writes the comparison as a Markdown table to paste into a review.
func Markdown(w io.Writer, res *Result) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "**old:** %s  \n**new:** %s\n\n", mdEscape(res.OldName), mdEscape(res.NewName))
	b.WriteString("| series | unit | old median [95% CI] | new median [95% CI] | change [95% CI] | ratio of medians | p (Holm) | n | verdict |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range res.Rows {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %d+%d | %s |\n", mdEscape(res.Name(r)), mdEscape(r.Unit),
			mdEscape(medianText(r.Old)), mdEscape(medianText(r.New)), mdEscape(changeText(r)), ratioText(r.RatioOfMedians),
			pValue(r.PAdjusted), r.Old.N, r.New.N, Verdict(r))
	}
	b.WriteString("\n")
	for _, line := range legend(res) {
		fmt.Fprintf(b, "- %s\n", mdEscape(line))
	}
	for _, r := range res.Rows {
		for _, note := range r.Notes {
			fmt.Fprintf(b, "- note: %s: %s\n", mdEscape(res.Name(r)), mdEscape(note))
		}
	}
	for _, wn := range res.Warnings {
		fmt.Fprintf(b, "- warning: %s\n", mdEscape(wn))
	}
	if res.Options.Gate {
		if len(res.Gate) == 0 {
			fmt.Fprintf(b, "\n**Gate passed** (threshold %s).\n", pct(res.Options.Threshold))
		} else {
			fmt.Fprintf(b, "\n**Gate failed:**\n\n")
			for _, g := range res.Gate {
				fmt.Fprintf(b, "- %s: %s\n", g.Reason, mdEscape(g.Message))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// CSV writes one record per row with every statistic; empty fields are numbers that
// do not exist.
func CSV(w io.Writer, res *Result) error {
	cw := csv.NewWriter(w)
	f := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	if err := cw.Write([]string{"host", "runtime", "benchmark", "metric", "params", "unit", "better",
		"old_n", "old_median", "old_median_ci_lo", "old_median_ci_hi", "old_median_ci_coverage",
		"new_n", "new_median", "new_median_ci_lo", "new_median_ci_hi", "new_median_ci_coverage",
		"shift", "shift_ci_lo", "shift_ci_hi", "shift_ci_coverage", "change", "change_ci_lo", "change_ci_hi",
		"ratio_of_medians", "test", "method", "p", "p_adjusted", "min_adjusted_p", "verdict", "excluded", "notes"}); err != nil {
		return fmt.Errorf("writing csv: %w", err)
	}
	for _, r := range res.Rows {
		var ex []string
		for _, e := range r.Excluded {
			ex = append(ex, fmt.Sprintf("%d %s: %s", e.Count, e.Side, e.Reason))
		}
		rec := []string{r.Host, r.Runtime, r.Benchmark, r.Metric, r.Params, r.Unit, string(r.Better),
			strconv.Itoa(r.Old.N), f(r.Old.Median), f(r.Old.MedianCI.Lo), f(r.Old.MedianCI.Hi), f(r.Old.MedianCI.Coverage),
			strconv.Itoa(r.New.N), f(r.New.Median), f(r.New.MedianCI.Lo), f(r.New.MedianCI.Hi), f(r.New.MedianCI.Coverage),
			f(r.Shift.Estimate), f(r.Shift.CI.Lo), f(r.Shift.CI.Hi), f(r.Shift.CI.Coverage), f(r.Change), f(r.ChangeCI.Lo), f(r.ChangeCI.Hi),
			f(r.RatioOfMedians), testName(r), string(r.Test.Method), f(r.P), f(r.PAdjusted), f(r.MinAdjustedP), Verdict(r),
			strings.Join(ex, "; "), strings.Join(r.Notes, "; ")}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("writing csv: %w", err)
		}
	}
	cw.Flush()
	return cw.Error()
}
