package report

import (
	"fmt"
	"image/color"
	"math"
	"slices"
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

// Panel charts are small: three fit side by side on a laptop screen, and they still
// print at PNGDPI.
const (
	panelWidth  = 4.3 * vg.Inch
	panelHeight = 2.45 * vg.Inch
)

// hBar is one horizontal bar segment from X0 to X1 at row Y.
type hBar struct {
	Y, X0, X1 float64
	Color     color.Color
	// Pale bars (emulated runtimes) get a dashed outline in Outline.
	Outline color.Color
}

// hBars draws bar segments; they are clipped to the data area.
type hBars struct {
	bars []hBar
	// Thickness is the bar height in rows.
	Thickness float64
}

func (b hBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, bar := range b.bars {
		y0, y1 := trY(bar.Y-b.Thickness/2), trY(bar.Y+b.Thickness/2)
		x0, x1 := trX(bar.X0), trX(bar.X1)
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(bar.Color, c.ClipPolygonXY(pts))
		if bar.Outline != nil {
			ls := draw.LineStyle{Color: bar.Outline, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
			c.StrokeLines(ls, c.ClipLinesXY(append(pts, pts[0]))...)
		}
	}
}

func (b hBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, bar := range b.bars {
		xmin, xmax = math.Min(xmin, math.Min(bar.X0, bar.X1)), math.Max(xmax, math.Max(bar.X0, bar.X1))
		ymin, ymax = math.Min(ymin, bar.Y-b.Thickness/2), math.Max(ymax, bar.Y+b.Thickness/2)
	}
	return
}

// boxThumb is a legend sample: a filled box.
type boxThumb struct{ color color.Color }

func (t boxThumb) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(t.color, pts)
}

// tickThumb is a legend sample: a short vertical line.
type tickThumb struct{ color color.Color }

func (t tickThumb) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(draw.LineStyle{Color: t.color, Width: vg.Points(1.5)}, x, c.Min.Y, x, c.Max.Y)
}

// The phases of a start-up, in the order they happen, with their colours (a sequence
// of one hue, so the stack reads as one bar in its steps).
var startupPhases = []struct {
	label string
	color color.RGBA
}{
	{"create", rgb(0x9ecae1)},
	{"start to first output", rgb(0x4292c6)},
	{"until exit", rgb(0x08519c)},
	{"delete", rgb(0xbdbdbd)},
}

// vmPhaseMetrics are the boot phases VM runtimes report, from start.
var vmPhaseMetrics = []string{"phase_vmm_started", "phase_kernel_start", "phase_init_reached", "phase_workload_started"}

func panelPlot(title string) *plot.Plot {
	p := NewPlot(title)
	p.Title.TextStyle.Font.Size = font.Length(11)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font.Size = font.Length(9)
		ax.Tick.Label.Font.Size = font.Length(9)
	}
	return p
}

// runtimeLabel is the name on an axis; emulated runtimes are marked.
func runtimeLabel(r Row) string {
	if r.Emulated {
		return r.Runtime + "\n(emulated)"
	}
	return r.Runtime
}

// denseLabels sets many runtimes' names smaller, so that the panels keep one height.
func denseLabels(p *plot.Plot, n int) {
	if n > 6 {
		p.Y.Tick.Label.Font.Size = font.Length(8)
	}
}

// legendLabel is the name in a legend; emulated runtimes are marked.
func legendLabel(r Row) string {
	if r.Emulated {
		return r.Runtime + " (emulated)"
	}
	return r.Runtime
}

// startupFigure: per runtime one bar of its start-up phases (medians, stacked), VM boot
// phases marked inside; emulated runtimes far beyond the others are cut at the axis
// with their value written.
func (a *Analysis) startupFigure(p Panel) (Figure, error) {
	med := func(rt, metric string) float64 {
		for _, r := range a.Rows {
			if r.Host == p.Host && r.Runtime == rt && r.Benchmark == "startup" && r.Metric == metric && r.Params == p.Params && r.Summary.N > 0 {
				return r.Summary.Median
			}
		}
		return math.NaN()
	}
	n := len(p.Rows)
	type stack struct {
		row    Row
		bounds []float64 // cumulative ends of the phases
		phases []float64 // VM boot phase positions
		total  float64
	}
	stacks := make([]stack, n)
	maxReal, maxAll := 0.0, 0.0
	for i, r := range p.Rows {
		create, toOut, toExit, del := med(r.Runtime, "create"), med(r.Runtime, "start_to_output"), med(r.Runtime, "start_to_exit"), med(r.Runtime, "delete")
		zero := func(v float64) float64 {
			if !finite(v) || v < 0 {
				return 0
			}
			return v
		}
		create, toOut, toExit, del = zero(create), zero(toOut), zero(toExit), zero(del)
		toExit = math.Max(toExit, toOut)
		st := stack{row: r, bounds: []float64{create, create + toOut, create + toExit, create + toExit + del}}
		for _, m := range vmPhaseMetrics {
			if v := med(r.Runtime, m); finite(v) && v > 0 && v < toOut {
				st.phases = append(st.phases, create+v)
			}
		}
		st.total = st.bounds[3]
		stacks[i] = st
		maxAll = math.Max(maxAll, st.total)
		if !r.Emulated {
			maxReal = math.Max(maxReal, st.total)
		}
	}
	limit := maxAll * 1.05
	cut := maxReal > 0 && maxAll > 1.6*maxReal
	if cut {
		limit = maxReal * 1.35
	}
	pl := panelPlot("Start-up: create to delete")
	pl.X.Label.Text = "ms, median of each phase (lower is better)"
	pl.X.Tick.Marker = NiceTicks{N: 5}
	var bars []hBar
	var marks []plotter.XYs
	var cutLabels plotter.XYLabels
	labels := make([]string, n)
	for i, st := range stacks {
		y := float64(n - 1 - i)
		labels[n-1-i] = runtimeLabel(st.row)
		prev := 0.0
		for j, end := range st.bounds {
			c := startupPhases[j].color
			var outline color.Color
			if st.row.Emulated {
				c, outline = pale(c), rgb(0x666666)
			}
			if x0, x1 := math.Min(prev, limit), math.Min(end, limit); x1 > x0 {
				bars = append(bars, hBar{Y: y, X0: x0, X1: x1, Color: c, Outline: outline})
			}
			prev = end
		}
		for _, x := range st.phases {
			if x < limit {
				marks = append(marks, plotter.XYs{{X: x, Y: y - 0.3}, {X: x, Y: y + 0.3}})
			}
		}
		if st.total > limit {
			cutLabels.XYs = append(cutLabels.XYs, plotter.XY{X: limit, Y: y})
			cutLabels.Labels = append(cutLabels.Labels, fmt.Sprintf("%s ms ▶", num(st.total)))
		}
	}
	pl.Add(plotter.NewGrid())
	pl.Add(hBars{bars: bars, Thickness: 0.62})
	for _, m := range marks {
		ln, err := plotter.NewLine(m)
		if err != nil {
			return Figure{}, err
		}
		ln.Color, ln.Width = color.White, vg.Points(1.6)
		pl.Add(ln)
	}
	if err := addCutLabels(pl, cutLabels); err != nil {
		return Figure{}, err
	}
	pl.NominalY(labels...)
	pl.X.Min, pl.X.Max = 0, limit
	denseLabels(pl, n)
	fig := Figure{Plot: pl, LegendBelow: true, Width: panelWidth, Height: panelHeight}
	for _, ph := range startupPhases {
		fig.Add(ph.label, boxThumb{ph.color})
	}
	hasVM := false
	for _, st := range stacks {
		hasVM = hasVM || len(st.phases) > 0
	}
	if hasVM {
		fig.Add("VM boot: VMM, kernel, init, workload", tickThumb{rgb(0x08519c)})
	}
	return fig, nil
}

// relativeFigure: per runtime its level relative to the reference (the Hodges-Lehmann
// shift over the reference's median, plus one), whiskers at the shift's interval.
func relativeFigure(p Panel) (Figure, error) {
	title := p.Topic.Title + ": " + p.Topic.Noun
	if p.Params != "" {
		title += "\n" + strings.ReplaceAll(p.Params, ",", ", ")
	}
	pl := panelPlot(title)
	pl.X.Label.Text = fmt.Sprintf("%% of %s (%s is better), 95%% CI", p.Reference, p.Better)
	n := len(p.Rows)
	labels := make([]string, n)
	type level struct {
		row          Row
		y, x, lo, hi float64
		interval     bool
	}
	var levels []level
	hiReal, hiAll := 100.0, 100.0
	for i, r := range p.Rows {
		y := float64(n - 1 - i)
		labels[n-1-i] = runtimeLabel(r)
		l := level{row: r, y: y, x: math.NaN()}
		if r.Runtime == p.Reference {
			l.x = 100
		} else if c, ok := p.Comparisons[r.Runtime]; ok && finite(c.Change) {
			l.x = 100 * (1 + c.Change)
			if finite(c.ChangeCI.Lo, c.ChangeCI.Hi) {
				l.lo, l.hi, l.interval = math.Max(0, 100*(1+c.ChangeCI.Lo)), math.Max(0, 100*(1+c.ChangeCI.Hi)), true
			}
		}
		if !finite(l.x) {
			continue
		}
		top := l.x
		if l.interval {
			top = math.Max(top, l.hi)
		}
		hiAll = math.Max(hiAll, top)
		if !r.Emulated {
			hiReal = math.Max(hiReal, top)
		}
		levels = append(levels, l)
	}
	// An emulated runtime far beyond the rest is cut at the axis with its value written.
	limit := hiAll * 1.08
	if hiAll > 1.6*hiReal {
		limit = hiReal * 1.3
	}
	var bars []hBar
	var whiskers ciPoints
	var cut plotter.XYLabels
	for _, l := range levels {
		st := RuntimeStyle(l.row.Runtime, l.row.Class, l.row.Emulated)
		var outline color.Color
		if l.row.Emulated {
			outline = rgb(0x666666)
		}
		bars = append(bars, hBar{Y: l.y, X0: 0, X1: math.Min(l.x, limit), Color: st.Color, Outline: outline})
		switch {
		case l.x > limit:
			cut.XYs = append(cut.XYs, plotter.XY{X: limit, Y: l.y})
			cut.Labels = append(cut.Labels, fmt.Sprintf("%s%% ▶", plainNum(l.x)))
		case l.interval && l.hi <= limit:
			whiskers.add(l.x, l.y, l.lo, l.hi)
		}
	}
	pl.Add(plotter.NewGrid())
	pl.Add(hBars{bars: bars, Thickness: 0.62})
	if whiskers.Len() > 0 {
		eb, err := plotter.NewXErrorBars(whiskers)
		if err != nil {
			return Figure{}, err
		}
		eb.LineStyle.Width = vg.Points(1.2)
		eb.CapWidth = vg.Points(5)
		pl.Add(eb)
	}
	if err := addCutLabels(pl, cut); err != nil {
		return Figure{}, err
	}
	ref, err := plotter.NewLine(plotter.XYs{{X: 100, Y: -0.5}, {X: 100, Y: float64(n) - 0.5}})
	if err != nil {
		return Figure{}, err
	}
	ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	ref.Color = color.Black
	pl.Add(ref)
	pl.NominalY(labels...)
	denseLabels(pl, n)
	pl.X.Min, pl.X.Max = 0, limit
	pl.X.Tick.Marker = NiceTicks{N: 5}
	return Figure{Plot: pl, Width: panelWidth, Height: panelHeight}, nil
}

// sweepLine is one runtime's medians against the sweep param.
type sweepLine struct {
	row Row
	pts ciPoints
}

// sweepFigure: the metric against a numeric param, a line per runtime in its style
// (colour by class, dashes and markers by name, so lines lying on each other stay
// apart), whiskers at the median's interval, ticks at exactly the measured values and
// the legend below the plot.
func sweepFigure(title, sweep string, lines []sweepLine, unit string, better results.Better, reference string, width, height vg.Length, small bool) (Figure, error) {
	pl := NewPlot(title)
	if small {
		pl = panelPlot(title)
	}
	pl.X.Label.Text = sweep + " (as measured)"
	if sweep == "n" {
		pl.X.Label.Text = "containers running at once (n, as measured)"
	}
	pl.Y.Label.Text = axisLabel(unit, string(better))
	if small {
		pl.Y.Label.Text = fmt.Sprintf("%s (%s is better)", unit, better)
	}
	pl.Y.Tick.Marker = NiceTicks{N: 6}
	fig := Figure{Plot: pl, LegendBelow: true, Width: width, Height: height}
	xs := map[float64]bool{}
	lo, hi := math.Inf(1), math.Inf(-1)
	// On a small chart an emulated runtime far above the rest would flatten them: it
	// is named in the legend with its range instead of drawn.
	realMax := math.Inf(-1)
	for _, l := range lines {
		if !l.row.Emulated {
			for _, y := range l.pts.ys {
				realMax = math.Max(realMax, y)
			}
		}
	}
	// Runtimes measured alike (runc and crun) would hide each other: each line is moved
	// a little along x, as box plots are dodged; the ticks stay at the measured values.
	var span float64
	{
		xlo, xhi := math.Inf(1), math.Inf(-1)
		for _, l := range lines {
			for _, x := range l.pts.xs {
				xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
			}
		}
		if finite(xlo, xhi) {
			span = xhi - xlo
		}
	}
	drawn := 0
	for _, l := range lines {
		if l.pts.Len() == 0 {
			continue
		}
		if small && l.row.Emulated && finite(realMax) && slices.Min(l.pts.ys) > 3*realMax {
			st := RuntimeStyle(l.row.Runtime, l.row.Class, l.row.Emulated)
			fig.Add(fmt.Sprintf("%s (emulated): %s to %s %s, off the scale", l.row.Runtime, plainNum(slices.Min(l.pts.ys)), plainNum(slices.Max(l.pts.ys)), unit),
				boxThumb{st.Color})
			continue
		}
		sort.Sort(byX{&l.pts})
		for i := range l.pts.xs {
			xs[l.pts.xs[i]] = true
			lo, hi = math.Min(lo, l.pts.lo[i]), math.Max(hi, l.pts.hi[i])
		}
		shift := 0.012 * span * float64(drawn-(len(lines)-1)/2)
		drawn++
		moved := ciPoints{xs: slices.Clone(l.pts.xs), ys: l.pts.ys, lo: l.pts.lo, hi: l.pts.hi}
		for i := range moved.xs {
			moved.xs[i] += shift
		}
		l.pts = moved
		st := RuntimeStyle(l.row.Runtime, l.row.Class, l.row.Emulated)
		ln, sc, err := plotter.NewLinePoints(l.pts)
		if err != nil {
			return Figure{}, err
		}
		ln.Color, ln.Dashes, ln.Width = st.Color, st.Dashes, vg.Points(1.5)
		label := legendLabel(l.row)
		if l.row.Runtime == reference {
			// The reference the sentences compare with stands out.
			ln.Width, label = vg.Points(2.8), label+" (reference)"
		}
		sc.Color, sc.Shape, sc.Radius = st.Color, st.Glyph, vg.Points(3)
		eb, err := plotter.NewYErrorBars(l.pts)
		if err != nil {
			return Figure{}, err
		}
		eb.Color = st.Color
		eb.CapWidth = vg.Points(4)
		pl.Add(ln, sc, eb)
		fig.Add(label, ln, sc)
	}
	var ticks []float64
	for x := range xs {
		ticks = append(ticks, x)
	}
	sort.Float64s(ticks)
	if len(ticks) > 0 {
		pl.X.Tick.Marker = ValueTicks(ticks)
		span := ticks[len(ticks)-1] - ticks[0]
		if span == 0 {
			span = 1
		}
		pl.X.Min, pl.X.Max = ticks[0]-0.06*span, ticks[len(ticks)-1]+0.06*span
	}
	switch {
	case !small && lo > 0 && hi/lo > 20:
		// An emulated VM and a process differ by orders of magnitude: a log axis shows both.
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Tick.Marker = LogTicks125{}
		pl.Y.Label.Text += ", log scale"
		pl.Y.Min, pl.Y.Max = lo/1.1, hi*1.1
	case finite(lo, hi):
		pl.Y.Min = math.Min(0, lo)
		pl.Y.Max = hi * 1.05
	}
	pl.Add(plotter.NewGrid())
	return fig, nil
}

// sweepLines collects each runtime's points of a metric over the sweep param from rows.
func sweepLines(rows []Row, sweep string) []sweepLine {
	var out []sweepLine
	idx := map[string]int{}
	for _, r := range rows {
		p, err := results.ParseParams(r.Params)
		if err != nil {
			continue
		}
		x, err := strconv.ParseFloat(p[sweep], 64)
		if err != nil {
			continue
		}
		i, ok := idx[r.Runtime]
		if !ok {
			i = len(out)
			idx[r.Runtime] = i
			out = append(out, sweepLine{row: r})
		}
		s := r.Summary
		l, h := s.MedianCI.Lo, s.MedianCI.Hi
		if !s.MedianCI.OK || !finite(l, h) {
			l, h = s.Median, s.Median
		}
		if finite(s.Median) {
			out[i].pts.add(x, s.Median, l, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return classRank(out[i].row.Class) < classRank(out[j].row.Class) })
	return out
}

// densityFigure: the topic's metric against n for every runtime, with the other params
// of the headline series.
func (a *Analysis) densityFigure(p Panel) (Figure, error) {
	rest := func(params string) string {
		m, err := results.ParseParams(params)
		if err != nil {
			return params
		}
		delete(m, p.Topic.Sweep)
		return m.String()
	}
	want := rest(p.Params)
	var rows []Row
	for _, r := range a.Rows {
		if r.Host == p.Host && r.Benchmark == p.Topic.Benchmark && r.Metric == p.Topic.Metric && rest(r.Params) == want {
			rows = append(rows, r)
		}
	}
	title := p.Topic.Title + ": " + p.Topic.Noun
	if want != "" {
		title += " [" + want + "]"
	}
	return sweepFigure(title, p.Topic.Sweep, sweepLines(rows, p.Topic.Sweep), p.Unit, p.Better, p.Reference, panelWidth, panelHeight, true)
}

// panelCharts draws the chart of every panel.
func (a *Analysis) panelSpecs(panels []Panel) []chartSpec {
	var specs []chartSpec
	for i := range panels {
		p := panels[i]
		id := slug("first_" + p.Host + "_" + p.Topic.ID)
		spec := chartSpec{Chart: Chart{ID: id, Kind: ChartPanel, Title: p.Topic.Title, Host: p.Host, Benchmark: p.Topic.Benchmark, Metric: p.Topic.Metric}}
		switch {
		case p.Topic.ID == "startup":
			spec.figure = func() (Figure, error) { return a.startupFigure(p) }
		case p.Topic.Sweep != "":
			spec.figure = func() (Figure, error) { return a.densityFigure(p) }
		default:
			spec.figure = func() (Figure, error) { return relativeFigure(p) }
		}
		specs = append(specs, spec)
	}
	return specs
}

// addCutLabels writes the values of bars cut at the axis end, right-aligned against it.
func addCutLabels(pl *plot.Plot, cut plotter.XYLabels) error {
	if len(cut.XYs) == 0 {
		return nil
	}
	l, err := plotter.NewLabels(cut)
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = -1, -0.5
		l.TextStyle[i].Font.Size = font.Length(8)
		l.TextStyle[i].Color = color.Black
	}
	l.Offset = vg.Point{X: -vg.Points(2)}
	pl.Add(l)
	return nil
}
