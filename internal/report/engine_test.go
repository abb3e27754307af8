package report

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/report/fixture"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/stats"
)

func TestEngineOverheadPairsEngineWithItsRuntime(t *testing.T) {
	spec := fixture.Default("h1", 7)
	spec.Failures = 0
	spec.Runtimes = append(spec.Runtimes, fixture.Runtime{Name: "docker-runc", Class: "container", Factor: 2.0,
		Options: map[string]string{runtime.OptionOCIRuntime: "runc"}})
	dir := filepath.Join(t.TempDir(), "run")
	if _, err := fixture.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	a, err := Load(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows := a.engineOverheads()
	if len(rows) != 1 {
		t.Fatalf("got %d engine rows, want 1: %+v", len(rows), rows)
	}
	o := rows[0]
	// total's base is 5 ms: the engine at factor 2.0 against runc at 1.3 adds about 3.5 ms.
	if o.Engine != "docker-runc" || o.Runtime != "runc" || math.Abs(o.Overhead-3.5) > 0.5 {
		t.Errorf("overhead row %+v, want docker-runc over runc by about 3.5 ms", o)
	}
	if !(o.CI.Lo <= o.Overhead && o.Overhead <= o.CI.Hi) {
		t.Errorf("interval %+v does not hold %v", o.CI, o.Overhead)
	}
	var md, html bytes.Buffer
	if err := Markdown(&md, a); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "## Engine overhead") || !strings.Contains(md.String(), "docker-runc") {
		t.Errorf("markdown lacks the engine overhead table")
	}
	if err := HTML(&html, a, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `data-section="engine-overhead"`) {
		t.Errorf("html lacks the engine overhead table")
	}
}

func TestInfoIsShownButDoesNotSplitSeries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	w, err := results.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, stack := range []string{"linux-veth", "linux-veth", "gvisor-netstack"} {
		rt := "runc"
		if i == 2 {
			rt = "runsc"
		}
		w.AddSample(results.Sample{Host: "h", Runtime: rt, Benchmark: "network", Metric: "latency_p50", Unit: "us",
			Better: results.Lower, Value: float64(10 + i), Trial: i + 1, Params: map[string]string{"direction": "round-trip"},
			Info: map[string]string{"stack": stack}})
	}
	w.Close()
	a, err := Load(context.Background(), []string{dir}, Options{Baseline: "runc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Rows) != 2 {
		t.Fatalf("got %d rows, want one per runtime", len(a.Rows))
	}
	for _, r := range a.Rows {
		if !strings.Contains(r.Notes(), "stack=") {
			t.Errorf("%s: notes %q do not name the stack", r.Runtime, r.Notes())
		}
		if r.Runtime == "runsc" && math.IsNaN(r.Ratio) {
			t.Errorf("runsc has no ratio to runc: the stack split the series")
		}
	}
}

// An engine faster than its runtime reads "-2.8 ms", never "+-2.8 ms".
func TestNegativeEngineOverheadHasOneSign(t *testing.T) {
	var b strings.Builder
	row := EngineOverhead{Host: "h", Engine: "docker-runc", Runtime: "runc", Metric: "total", Unit: "ms",
		EngineMedian: 40, RuntimeMedian: 42.8, Overhead: -2.8,
		CI: stats.CoveredInterval{Interval: stats.Interval{Lo: -4.1, Hi: 0.5}, Coverage: 0.96, OK: true}}
	writeEngineOverheads(&b, []EngineOverhead{row}, false)
	writeEngineOverheads(&b, []EngineOverhead{row}, true)
	out := b.String()
	if strings.Contains(out, "+-") || !strings.Contains(out, "-2.8 ms [-4.1, +0.5]") {
		t.Errorf("overhead text:\n%s", out)
	}
	row.CI = stats.CoveredInterval{Interval: stats.Interval{Lo: math.NaN(), Hi: math.NaN()}}
	b.Reset()
	writeEngineOverheads(&b, []EngineOverhead{row}, false)
	if !strings.Contains(b.String(), stats.TooSmall) {
		t.Errorf("an interval that does not exist is not said so:\n%s", b.String())
	}
}

// Values that cannot be measurements stay out of a report's statistics, with the
// reason, and MemAvailable's per-container drop carries its caveat.
func TestImplausibleValuesAndHostWideMetricsAreNoted(t *testing.T) {
	s := &results.Series{Key: results.SeriesKey{Runtime: "runc", Benchmark: "density", Metric: "mem_available_per_container", Params: "n=1"},
		Unit: "MiB", Better: results.Lower, Caveat: "MemAvailable moves with everything else on the host", Values: []float64{-68.6, -1, 3, 4, 5}}
	kept, caveats := plausibleValues(s)
	if len(kept) != 3 || kept[0] != 3 {
		t.Errorf("kept %v", kept)
	}
	text := strings.Join(caveats, "\n")
	if !strings.Contains(text, "2 value(s) kept out: negative MiB") || !strings.Contains(text, "moves with everything else on the host") {
		t.Errorf("caveats: %s", text)
	}
	if kept, caveats := plausibleValues(&results.Series{Unit: "ms", Values: []float64{1, 2}}); len(kept) != 2 || caveats != nil {
		t.Errorf("plain series: %v %v", kept, caveats)
	}
}

// Params sort pair by pair, numbers by value, escaped separators inside values kept whole.
func TestParamsLessReadsTheCanonicalForm(t *testing.T) {
	less := [][2]string{
		{"n=2", "n=10"},
		{"block=4KiB,threads=2", "block=4KiB,threads=10"},
		{`list=1\,2`, `list=1\,3`},
		{"a=1", "a=1,b=1"},
	}
	for _, c := range less {
		if !paramsLess(c[0], c[1]) || paramsLess(c[1], c[0]) {
			t.Errorf("%q should sort before %q", c[0], c[1])
		}
	}
}
