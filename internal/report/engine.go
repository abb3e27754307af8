package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/stats"
)

// EngineOverhead is what an engine adds to the start-up of the OCI runtime it drives:
// the Hodges-Lehmann shift from the bare runtime's start-up to the engine's, with the
// interval of the Mann-Whitney test (NaN bounds when the samples are too few for one).
type EngineOverhead struct {
	Host, Engine, Runtime, Metric, Unit string
	EngineMedian, RuntimeMedian         float64
	Overhead                            float64
	CI                                  stats.CoveredInterval
	// Share is the part of the engine's start-up that the engine itself adds.
	Share float64
}

// engineOverheads pairs every engine profile of a host with its bare runtime.
func (a *Analysis) engineOverheads() []EngineOverhead {
	index := map[results.SeriesKey]*Row{}
	for i := range a.Rows {
		index[a.Rows[i].Key()] = &a.Rows[i]
	}
	var out []EngineOverhead
	for _, h := range a.Hosts {
		if h.Env == nil {
			continue
		}
		for engine, info := range h.Env.Runtimes {
			bare := info.Options[runtime.OptionOCIRuntime]
			if bare == "" || bare == engine {
				continue
			}
			// Only a headline means the same through an engine and directly (start-up's
			// total: an engine's "create" does not call the runtime's create).
			for _, mi := range h.Env.Metrics {
				if !mi.Headline {
					continue
				}
				m := mi.Name
				headline := results.SeriesKey{Host: h.Host, Benchmark: mi.Benchmark, Metric: m}
				er, br := index[headline.WithRuntime(engine)], index[headline.WithRuntime(bare)]
				if er == nil || br == nil {
					continue
				}
				shift := stats.HodgesLehmann(br.Values, er.Values, stats.Confidence)
				d := shift.Estimate
				o := EngineOverhead{Host: h.Host, Engine: engine, Runtime: bare, Metric: m, Unit: er.Unit,
					EngineMedian: er.Summary.Median, RuntimeMedian: br.Summary.Median, Overhead: d, CI: shift.CI}
				if er.Summary.Median != 0 {
					o.Share = d / er.Summary.Median
				}
				out = append(out, o)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Host+a.Engine+a.Metric < b.Host+b.Engine+b.Metric
	})
	return out
}

// writeEngineOverheads writes the table in text (markdown=false) or Markdown.
func writeEngineOverheads(w io.Writer, rows []EngineOverhead, markdown bool) {
	if len(rows) == 0 {
		return
	}
	if markdown {
		fmt.Fprintf(w, "## Engine overhead\n\nStart-up through an engine minus the start-up of the same OCI runtime driven directly (Hodges-Lehmann shift with the 95%% interval of the Mann-Whitney test).\n\n")
		fmt.Fprintf(w, "| host | engine | runtime | metric | engine | runtime | overhead [95%% CI] | share |\n|---|---|---|---|---:|---:|---|---:|\n")
	} else {
		fmt.Fprintf(w, "\nengine overhead (start-up through the engine minus the same runtime driven directly):\n")
	}
	for _, o := range rows {
		ov := fmt.Sprintf("%s %s [%s, %s]", signedNum(o.Overhead), o.Unit, signedNum(o.CI.Lo), signedNum(o.CI.Hi))
		if !o.CI.OK {
			ov = fmt.Sprintf("%s %s [interval: %s]", signedNum(o.Overhead), o.Unit, stats.TooSmall)
		}
		if markdown {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %.0f%% |\n", mdEscape(o.Host), o.Engine, o.Runtime, o.Metric,
				num(o.EngineMedian), num(o.RuntimeMedian), ov, 100*o.Share)
		} else {
			fmt.Fprintf(w, "  %s: %s %s %s vs %s %s: %s (%.0f%% of the engine's start-up)\n", o.Host, o.Engine, o.Metric,
				num(o.EngineMedian), o.Runtime, num(o.RuntimeMedian), strings.TrimSpace(ov), 100*o.Share)
		}
	}
	fmt.Fprintln(w)
}

// signedNum is num with an explicit sign, so an engine that is faster than its runtime
// reads "-2.8", never "+-2.8".
func signedNum(v float64) string {
	s := num(v)
	if v > 0 {
		return "+" + s
	}
	return s
}
