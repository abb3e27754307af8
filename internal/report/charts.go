package report

import (
	"context"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/isobench/isobench/internal/results"
)

// Chart kinds.
const (
	ChartBars     = "bars"     // median per runtime with 95% CI whiskers
	ChartLines    = "lines"    // median against a numeric param (n, parallel, threads), a line per runtime
	ChartCDF      = "cdf"      // start-up distribution per runtime
	ChartOverview = "overview" // every runtime relative to the baseline
	ChartPanel    = "panel"    // a first-screen chart: one question, every runtime
)

// sweepParams are the numeric params drawn on the x axis when a metric was measured
// at several values of them, in order of preference.
var sweepParams = []string{"n", "parallel", "threads"}

// PNGDPI is the resolution of PNG charts, enough for print.
const PNGDPI = 200

// Chart is one rendered chart.
type Chart struct {
	// ID is unique within a report and names the files charts/<ID>.png and .svg.
	ID        string
	Kind      string
	Title     string
	Host      string
	Benchmark string
	Metric    string
	SVG       []byte
	// Width and Height are the chart's size in CSS pixels, so a page lays out before
	// the images are decoded.
	Width, Height int
}

type chartSpec struct {
	Chart
	figure func() (Figure, error)
}

// chartSpecs plans every chart of the analysis.
func (a *Analysis) chartSpecs() []chartSpec {
	var specs []chartSpec
	used := map[string]int{}
	id := func(parts ...string) string {
		s := slug(strings.Join(parts, "_"))
		used[s]++
		if used[s] > 1 {
			s += "_" + strconv.Itoa(used[s])
		}
		return s
	}
	multiHost := len(a.Hosts) > 1
	hostPrefix := func(h string) string {
		if multiHost {
			return h + ": "
		}
		return ""
	}
	specs = append(specs, a.panelSpecs(a.Panels)...)
	specs = append(specs, a.appSpecs(id, hostPrefix)...)
	for _, h := range a.Hosts {
		if spec, ok := a.overviewSpec(h, id("overview", h.Host), hostPrefix(h.Host)); ok {
			specs = append(specs, spec)
		}
	}
	// Metric groups: a line chart per sweep, else a bar chart (and, for start-up, a CDF) per params.
	type metricKey struct{ host, bench, metric string }
	byMetric := map[metricKey][]group{}
	var order []metricKey
	for _, g := range a.groups() {
		if drawnByAppCharts(g.Benchmark, g.Metric) {
			continue
		}
		k := metricKey{g.Host, g.Benchmark, g.Metric}
		if _, ok := byMetric[k]; !ok {
			order = append(order, k)
		}
		byMetric[k] = append(byMetric[k], g)
	}
	for _, k := range order {
		gs := byMetric[k]
		if sweep := sweepParam(gs); sweep != "" {
			for _, sub := range splitSweep(gs, sweep) {
				specs = append(specs, lineSpec(sub, sweep, id(k.host, k.bench, k.metric, sub.rest, "by", sweep), hostPrefix(k.host)))
			}
			continue
		}
		for _, g := range gs {
			specs = append(specs, barSpec(g, id(g.Host, g.Benchmark, g.Metric, g.Params), hostPrefix(g.Host)))
			if a.declared(g.Host, g.Benchmark, g.Metric).Distribution {
				specs = append(specs, cdfSpec(g, id(g.Host, g.Benchmark, g.Metric, g.Params, "cdf"), hostPrefix(g.Host)))
			}
		}
	}
	return specs
}

func slug(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '_'
		}
	}
	out := strings.Trim(strings.ReplaceAll(string(b), "__", "_"), "_")
	if len(out) > 120 {
		out = out[:120]
	}
	return out
}

// sweepParam is the first of sweepParams that every group has, numeric, with at least two values.
func sweepParam(gs []group) string {
	for _, p := range sweepParams {
		values := map[string]bool{}
		ok := true
		for _, g := range gs {
			v, has := results.MustParseParams(g.Params)[p]
			if _, err := strconv.ParseFloat(v, 64); !has || err != nil {
				ok = false
				break
			}
			values[v] = true
		}
		if ok && len(values) >= 2 {
			return p
		}
	}
	return ""
}

type sweepGroup struct {
	rest   string // params other than the sweep param
	points []group
}

func splitSweep(gs []group, sweep string) []sweepGroup {
	var out []sweepGroup
	idx := map[string]int{}
	for _, g := range gs {
		p := results.MustParseParams(g.Params)
		delete(p, sweep)
		rest := p.String()
		i, ok := idx[rest]
		if !ok {
			i = len(out)
			idx[rest] = i
			out = append(out, sweepGroup{rest: rest})
		}
		out[i].points = append(out[i].points, g)
	}
	return out
}

func axisLabel(unit string, better string) string {
	l := "median"
	if unit != "" {
		l += ", " + unit
	}
	if better != "" {
		l += " (" + better + " is better)"
	}
	return l
}

// ciPoints are points with asymmetric intervals, for error bars in either direction.
type ciPoints struct{ xs, ys, lo, hi []float64 }

func (c ciPoints) Len() int                        { return len(c.xs) }
func (c ciPoints) XY(i int) (float64, float64)     { return c.xs[i], c.ys[i] }
func (c ciPoints) XError(i int) (float64, float64) { return c.xs[i] - c.lo[i], c.hi[i] - c.xs[i] }
func (c ciPoints) YError(i int) (float64, float64) { return c.ys[i] - c.lo[i], c.hi[i] - c.ys[i] }
func (c *ciPoints) add(x, y, lo, hi float64) {
	c.xs, c.ys, c.lo, c.hi = append(c.xs, x), append(c.ys, y), append(c.lo, lo), append(c.hi, hi)
}
func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// barSpec: horizontal bars, one per runtime (first at the top), whiskers at the 95% CI of the median.
func barSpec(g group, id, prefix string) chartSpec {
	title := prefix + g.title()
	n := len(g.Rows)
	return chartSpec{
		Chart: Chart{ID: id, Kind: ChartBars, Title: title, Host: g.Host, Benchmark: g.Benchmark, Metric: g.Metric},
		figure: func() (Figure, error) {
			p := NewPlot(title)
			p.X.Label.Text = axisLabel(g.Unit, g.Better) + "; whiskers: 95% CI"
			p.X.Tick.Marker = NiceTicks{N: 6}
			labels := make([]string, n)
			var bars []hBar
			var whiskers ciPoints
			for i, r := range g.Rows {
				y := float64(n - 1 - i)
				labels[n-1-i] = runtimeLabel(r)
				m := r.Summary.Median
				if !finite(m) {
					continue
				}
				st := RuntimeStyle(r.Runtime, r.Class, r.Emulated)
				var outline color.Color
				if r.Emulated {
					outline = color.Gray{0x66}
				}
				bars = append(bars, hBar{Y: y, X0: 0, X1: m, Color: st.Color, Outline: outline})
				if ci := r.Summary.MedianCI; ci.OK && finite(ci.Lo, ci.Hi) {
					whiskers.add(m, y, ci.Lo, ci.Hi)
				}
			}
			p.Add(plotter.NewGrid(), hBars{bars: bars, Thickness: 0.62})
			if whiskers.Len() > 0 {
				eb, err := plotter.NewXErrorBars(whiskers)
				if err != nil {
					return Figure{}, err
				}
				eb.LineStyle.Width = vg.Points(1.2)
				p.Add(eb)
			}
			p.NominalY(labels...)
			p.X.Min = math.Min(0, p.X.Min)
			// Room after the longest bar and its whisker.
			p.X.Max += 0.04 * (p.X.Max - p.X.Min)
			return Figure{Plot: p, Width: 6.5 * vg.Inch, Height: vg.Length(1.3+0.38*float64(n)) * vg.Inch}, nil
		},
	}
}

// lineSpec: the metric against a numeric param, a line per runtime with CI whiskers.
func lineSpec(sg sweepGroup, sweep, id, prefix string) chartSpec {
	first := sg.points[0]
	title := prefix + first.Benchmark + "/" + first.Metric + " against " + sweep
	if sg.rest != "" {
		title += " [" + sg.rest + "]"
	}
	return chartSpec{
		Chart: Chart{ID: id, Kind: ChartLines, Title: title, Host: first.Host, Benchmark: first.Benchmark, Metric: first.Metric},
		figure: func() (Figure, error) {
			var rows []Row
			for _, g := range sg.points {
				rows = append(rows, g.Rows...)
			}
			return sweepFigure(title, sweep, sweepLines(rows, sweep), first.Unit, results.Better(first.Better), first.Rows[0].Baseline, 6.5*vg.Inch, 4.4*vg.Inch, false)
		},
	}
}

type byX struct{ c *ciPoints }

func (b byX) Len() int           { return b.c.Len() }
func (b byX) Less(i, j int) bool { return b.c.xs[i] < b.c.xs[j] }
func (b byX) Swap(i, j int) {
	c := b.c
	c.xs[i], c.xs[j] = c.xs[j], c.xs[i]
	c.ys[i], c.ys[j] = c.ys[j], c.ys[i]
	c.lo[i], c.lo[j] = c.lo[j], c.lo[i]
	c.hi[i], c.hi[j] = c.hi[j], c.hi[i]
}

// cdfPoints is the most points drawn per CDF line; beyond it the CDF is sampled at even quantiles.
const cdfPoints = 400

// cdfSpec: the empirical distribution function of each runtime's samples.
func cdfSpec(g group, id, prefix string) chartSpec {
	title := prefix + g.title() + ": distribution"
	return chartSpec{
		Chart: Chart{ID: id, Kind: ChartCDF, Title: title, Host: g.Host, Benchmark: g.Benchmark, Metric: g.Metric},
		figure: func() (Figure, error) {
			p := NewPlot(title)
			unit := g.Unit
			if unit == "" {
				unit = "value"
			}
			p.X.Label.Text = unit
			p.Y.Label.Text = "fraction of trials at or below"
			p.Y.Tick.Marker = NiceTicks{N: 5}
			fig := Figure{Plot: p, LegendBelow: true, Width: 6.5 * vg.Inch, Height: 4.4 * vg.Inch}
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, r := range g.Rows {
				n := len(r.Values)
				if n == 0 {
					continue
				}
				lo, hi = math.Min(lo, r.Values[0]), math.Max(hi, r.Values[n-1])
				m := min(n, cdfPoints)
				xys := make(plotter.XYs, 0, m)
				for k := range m {
					j := k * (n - 1) / max(m-1, 1)
					xys = append(xys, plotter.XY{X: r.Values[j], Y: float64(j+1) / float64(n)})
				}
				ln, err := plotter.NewLine(xys)
				if err != nil {
					return Figure{}, err
				}
				st := RuntimeStyle(r.Runtime, r.Class, r.Emulated)
				ln.StepStyle = plotter.PostStep
				ln.Color, ln.Dashes, ln.Width = st.Color, st.Dashes, vg.Points(1.5)
				p.Add(ln)
				fig.Add(legendLabel(r), ln)
			}
			// Start-up times of a process and a VM differ by orders of magnitude.
			if lo > 0 && hi/lo > 50 {
				p.X.Scale = plot.LogScale{}
				p.X.Tick.Marker = LogTicks125{}
				p.X.Label.Text += " (log scale)"
			} else {
				p.X.Tick.Marker = NiceTicks{N: 6}
			}
			p.Y.Min, p.Y.Max = 0, 1
			p.Add(plotter.NewGrid())
			return fig, nil
		},
	}
}

// costRatio turns a ratio into "times worse than the baseline" whatever the metric's direction.
func costRatio(r Row) float64 {
	if r.Better == "higher" {
		return 1 / r.Ratio
	}
	return r.Ratio
}

// overviewSpec: per runtime, the cost relative to the baseline of every metric (small
// dots) and their geometric mean (large dot), on a log axis.
func (a *Analysis) overviewSpec(h HostInfo, id, prefix string) (chartSpec, bool) {
	type entry struct {
		label, runtime, class string
		emulated              bool
		costs                 []float64
	}
	var entries []*entry
	byRuntime := map[string]*entry{}
	for _, r := range a.Rows {
		if r.Host != h.Host || r.IsBaseline() {
			continue
		}
		c := costRatio(r)
		if !finite(c) || c <= 0 {
			continue
		}
		e := byRuntime[r.Runtime]
		if e == nil {
			label := r.Runtime
			if r.Emulated {
				// Two lines: one long label would squeeze the chart.
				label += "\n(" + EmulatedNote + ")"
			}
			e = &entry{label: label, runtime: r.Runtime, class: r.Class, emulated: r.Emulated}
			byRuntime[r.Runtime] = e
			entries = append(entries, e)
		}
		e.costs = append(e.costs, c)
	}
	if len(entries) == 0 {
		return chartSpec{}, false
	}
	sort.SliceStable(entries, func(i, j int) bool { return classRank(entries[i].class) < classRank(entries[j].class) })
	title := prefix + "every runtime relative to " + h.Baseline
	n := len(entries)
	return chartSpec{
		Chart: Chart{ID: id, Kind: ChartOverview, Title: title, Host: h.Host},
		figure: func() (Figure, error) {
			p := NewPlot(title + "\ndots: single metrics; rings: their geometric mean")
			p.Title.TextStyle.Font.Size = font.Length(11)
			p.X.Label.Text = "cost relative to " + h.Baseline + " (>1 is worse)"
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = LogTicks125{}
			labels := make([]string, n)
			var dots, means plotter.XYs
			meanColors := make([]color.Color, 0, n)
			for i, e := range entries {
				y := float64(n - 1 - i)
				labels[n-1-i] = e.label
				logSum := 0.0
				for _, c := range e.costs {
					dots = append(dots, plotter.XY{X: c, Y: y})
					logSum += math.Log(c)
				}
				means = append(means, plotter.XY{X: math.Exp(logSum / float64(len(e.costs))), Y: y})
				meanColors = append(meanColors, RuntimeStyle(e.runtime, e.class, e.emulated).Color)
			}
			sd, err := plotter.NewScatter(dots)
			if err != nil {
				return Figure{}, err
			}
			sd.Color = color.RGBA{0x99, 0x99, 0x99, 0xff}
			sd.Radius = vg.Points(2)
			sm, err := plotter.NewScatter(means)
			if err != nil {
				return Figure{}, err
			}
			sm.GlyphStyleFunc = func(i int) draw.GlyphStyle {
				return draw.GlyphStyle{Color: meanColors[i], Radius: vg.Points(5), Shape: draw.RingGlyph{}}
			}
			one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(n) - 0.5}})
			if err != nil {
				return Figure{}, err
			}
			one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(plotter.NewGrid(), one, sd, sm)
			p.NominalY(labels...)
			// Every ratio 1 gives the log axis no range, which gonum pads to zero and
			// cannot draw: the axis always spans at least 0.8 to 1.25.
			p.X.Min, p.X.Max = math.Min(p.X.Min, 0.8), math.Max(p.X.Max, 1.25)
			return Figure{Plot: p, Width: 6.5 * vg.Inch, Height: vg.Length(1.5+0.38*float64(n)) * vg.Inch}, nil
		},
	}, true
}

// renderCharts draws every chart, writes charts/<id>.png and .svg under dir (when dir
// is not ""), and keeps each SVG for the HTML page.
func renderCharts(ctx context.Context, specs []chartSpec, dir string) ([]Chart, error) {
	if dir != "" {
		if err := makeDir(dir); err != nil {
			return nil, err
		}
	}
	charts := make([]Chart, len(specs))
	errs := make([]error, len(specs))
	if err := eachParallel(ctx, len(specs), func(i int) { charts[i], errs[i] = renderChart(specs[i], dir) }); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return charts, nil
}

func renderChart(spec chartSpec, dir string) (Chart, error) {
	fig, err := spec.figure()
	if err != nil {
		return Chart{}, fmt.Errorf("chart %s: %w", spec.ID, err)
	}
	c := spec.Chart
	c.Width, c.Height = int(fig.Width.Dots(96)+0.5), int(fig.Height.Dots(96)+0.5)
	c.SVG, err = RenderFigure(fig, dir, c.ID)
	if err != nil {
		return Chart{}, err
	}
	return c, nil
}
