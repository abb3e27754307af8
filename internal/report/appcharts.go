package report

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/isobench/isobench/internal/results"
)

// Chart kinds of the interference and host CPU cost charts.
const (
	ChartHeatMap = "heatmap" // interference: victim runtime x aggressor runtime, median slowdown per cell
	ChartCPUCost = "cpucost" // host CPU per unit of work per runtime, stacked by role, throughput beside
)

// The samples these charts read, as the interference benchmark and bench.EmitCPUCost
// write them.
const (
	interferenceBench     = "interference"
	slowdownMetric        = "slowdown"
	paramVictim           = "victim"
	paramAggressor        = "aggressor"
	paramAggressorRuntime = "aggressor_runtime"
	paramRole             = "role"
	roleTotal             = "total"
	cpuCostPrefix         = "host_cpu_per_"
)

// heatVictims are the victims drawn as matrices (the median latency is in the tables).
var heatVictims = []string{"cpu", "latency_p99"}

// appSpecs plans the interference matrices and the host CPU cost charts.
func (a *Analysis) appSpecs(id func(...string) string, hostPrefix func(string) string) []chartSpec {
	var specs []chartSpec
	specs = append(specs, a.heatMapSpecs(id, hostPrefix)...)
	specs = append(specs, a.cpuCostSpecs(id, hostPrefix)...)
	return specs
}

// drawnByAppCharts tells the series the matrices and cost charts draw, so that they get
// no bar chart per series as well (the tables keep every number).
func drawnByAppCharts(bench, metric string) bool {
	return bench == interferenceBench || strings.HasPrefix(metric, cpuCostPrefix)
}

// heatCell is one cell of an interference matrix.
type heatCell struct {
	victim, aggressor string
	median            float64
	lo, hi            float64
	ok                bool
}

// heatMapSpecs makes one matrix per host, aggressor kind, victim and the other params
// (count, placement): rows are victim runtimes, columns aggressor runtimes.
func (a *Analysis) heatMapSpecs(id func(...string) string, hostPrefix func(string) string) []chartSpec {
	type key struct{ host, kind, victim, rest string }
	cells := map[key][]heatCell{}
	var order []key
	for _, r := range a.Rows {
		if r.Benchmark != interferenceBench || r.Metric != slowdownMetric {
			continue
		}
		p, err := results.ParseParams(r.Params)
		if err != nil {
			continue
		}
		victim, kind, aggRuntime := p[paramVictim], p[paramAggressor], p[paramAggressorRuntime]
		if !contains(heatVictims, victim) || kind == "" || aggRuntime == "" {
			continue
		}
		rest := results.Params{}
		for k, v := range p {
			if k != paramVictim && k != paramAggressor && k != paramAggressorRuntime {
				rest[k] = v
			}
		}
		k := key{r.Host, kind, victim, rest.String()}
		if _, seen := cells[k]; !seen {
			order = append(order, k)
		}
		ci := r.Summary.MedianCI
		cells[k] = append(cells[k], heatCell{victim: r.Runtime, aggressor: aggRuntime, median: r.Summary.Median,
			lo: ci.Lo, hi: ci.Hi, ok: ci.OK && finite(ci.Lo, ci.Hi)})
	}
	var specs []chartSpec
	for _, k := range order {
		title := fmt.Sprintf("%sinterference: %s victim's slowdown beside %s aggressors", hostPrefix(k.host), victimName(k.victim), k.kind)
		if k.rest != "" {
			title += "\n" + strings.ReplaceAll(k.rest, ",", ", ")
		}
		cs := cells[k]
		specs = append(specs, chartSpec{
			Chart: Chart{ID: id(k.host, "interference", k.kind, k.victim, k.rest), Kind: ChartHeatMap, Title: title,
				Host: k.host, Benchmark: interferenceBench, Metric: slowdownMetric},
			figure: func() (Figure, error) { return heatFigure(title, cs) },
		})
	}
	return specs
}

func victimName(v string) string {
	switch v {
	case "cpu":
		return "CPU"
	case "latency_p99":
		return "p99 latency"
	}
	return v
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// heatFigure draws the matrix: a cell per (victim runtime, aggressor runtime), coloured
// from white (1, no slowdown) to red (2 and beyond), with the median and its interval
// written in.
func heatFigure(title string, cells []heatCell) (Figure, error) {
	var rows, cols []string
	for _, c := range cells {
		if !contains(rows, c.victim) {
			rows = append(rows, c.victim)
		}
		if !contains(cols, c.aggressor) {
			cols = append(cols, c.aggressor)
		}
	}
	sort.Strings(cols)
	p := NewPlot(title)
	p.X.Label.Text = "aggressor runtime"
	p.Y.Label.Text = "victim runtime"
	p.HideAxes()
	p.X.Tick.Marker = plot.ConstantTicks(heatTicks(cols))
	p.Y.Tick.Marker = plot.ConstantTicks(heatTicks(reversed(rows)))
	grid := heatGrid{rows: reversed(rows), cols: cols, cells: cells}
	p.Add(grid)
	p.X.Min, p.X.Max = -0.5, float64(len(cols))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(rows))-0.5
	w := vg.Length(2.2+1.3*float64(len(cols))) * vg.Inch
	h := vg.Length(1.4+0.6*float64(len(rows))) * vg.Inch
	return Figure{Plot: p, Width: max(w, 6.5*vg.Inch), Height: h}, nil
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func heatTicks(labels []string) []plot.Tick {
	ticks := make([]plot.Tick, len(labels))
	for i, l := range labels {
		ticks[i] = plot.Tick{Value: float64(i), Label: l}
	}
	return ticks
}

// heatGrid draws the matrix's cells.
type heatGrid struct {
	rows, cols []string
	cells      []heatCell
}

func (g heatGrid) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 9), XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
	for _, cell := range g.cells {
		x, y := indexOf(g.cols, cell.aggressor), indexOf(g.rows, cell.victim)
		if x < 0 || y < 0 {
			continue
		}
		x0, x1 := trX(float64(x)-0.48), trX(float64(x)+0.48)
		y0, y1 := trY(float64(y)-0.46), trY(float64(y)+0.46)
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		label := "-"
		fill := color.Color(color.Gray{0xee})
		if finite(cell.median) {
			fill = slowdownColor(cell.median)
			label = strconv.FormatFloat(cell.median, 'f', 2, 64) + "x"
			if cell.ok {
				label += fmt.Sprintf("\n[%s, %s]", strconv.FormatFloat(cell.lo, 'f', 2, 64), strconv.FormatFloat(cell.hi, 'f', 2, 64))
			}
		}
		c.FillPolygon(fill, pts)
		c.StrokeLines(draw.LineStyle{Color: color.Gray{0xbb}, Width: vg.Points(0.5)}, append(pts, pts[0]))
		c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}, label)
	}
}

func indexOf(list []string, s string) int {
	for i, e := range list {
		if e == s {
			return i
		}
	}
	return -1
}

// slowdownColor is white at 1 (or below), deepening to red at 2 and beyond.
func slowdownColor(v float64) color.Color {
	f := math.Max(0, math.Min(1, v-1))
	return color.RGBA{R: 255, G: uint8(255 - 175*f), B: uint8(255 - 190*f), A: 255}
}

// roleOrder is the order of roles in the stacked bars.
var roleOrder = []string{"workload", "sandbox", "gofer", "shim", "vmm"}

var roleColors = map[string]color.RGBA{
	"workload": rgb(0x4c78a8), "sandbox": rgb(0xf58518), "gofer": rgb(0xe45756),
	"shim": rgb(0x72b7b2), "vmm": rgb(0x54a24b),
}

// throughputMetrics are, per benchmark, the metric the CPU cost is written beside.
var throughputMetrics = map[string]string{
	"network": "throughput", "http": "requests_per_second", "nginx": "requests_per_second",
	"redis": "requests_per_second", "postgres": "transactions_per_second",
}

// cpuCostSpecs makes one chart per host, benchmark, cost metric and params: a bar per
// runtime, stacked by role, its throughput written beside its name.
func (a *Analysis) cpuCostSpecs(id func(...string) string, hostPrefix func(string) string) []chartSpec {
	type key struct{ host, bench, metric, rest string }
	type runtimeCost struct {
		row   Row
		roles map[string]float64
		total float64
	}
	costs := map[key]map[string]*runtimeCost{}
	var order []key
	for _, r := range a.Rows {
		if !strings.HasPrefix(r.Metric, cpuCostPrefix) {
			continue
		}
		p, err := results.ParseParams(r.Params)
		if err != nil {
			continue
		}
		role := p[paramRole]
		delete(p, paramRole)
		k := key{r.Host, r.Benchmark, r.Metric, p.String()}
		if _, seen := costs[k]; !seen {
			costs[k] = map[string]*runtimeCost{}
			order = append(order, k)
		}
		rc := costs[k][r.Runtime]
		if rc == nil {
			rc = &runtimeCost{row: r, roles: map[string]float64{}, total: math.NaN()}
			costs[k][r.Runtime] = rc
		}
		if role == roleTotal {
			rc.total = r.Summary.Median
		} else {
			rc.roles[role] = r.Summary.Median
		}
	}
	var specs []chartSpec
	for _, k := range order {
		var list []*runtimeCost
		for _, rc := range costs[k] {
			list = append(list, rc)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].row.Runtime < list[j].row.Runtime })
		unit := list[0].row.Unit
		throughput := a.throughputBeside(k.host, k.bench, k.rest)
		title := fmt.Sprintf("%s%s: host CPU per unit of work", hostPrefix(k.host), k.bench)
		if k.rest != "" {
			title += "\n" + strings.ReplaceAll(k.rest, ",", ", ")
		}
		specs = append(specs, chartSpec{
			Chart: Chart{ID: id(k.host, k.bench, k.metric, k.rest), Kind: ChartCPUCost, Title: title,
				Host: k.host, Benchmark: k.bench, Metric: k.metric},
			figure: func() (Figure, error) {
				p := NewPlot(title)
				p.X.Label.Text = unit + ", median by role (lower is better)"
				p.X.Tick.Marker = NiceTicks{N: 4}
				n := len(list)
				labels := make([]string, n)
				var bars []hBar
				used := map[string]bool{}
				for i, rc := range list {
					y := float64(n - 1 - i)
					labels[n-1-i] = rc.row.Runtime
					if tp, ok := throughput[rc.row.Runtime]; ok {
						labels[n-1-i] += "\n" + tp
					}
					x := 0.0
					for _, role := range orderedRoles(floatKeys(rc.roles)) {
						v := rc.roles[role]
						if !finite(v) || v <= 0 {
							continue
						}
						col, ok := roleColors[role]
						if !ok {
							col = rgb(0x9d9d9d)
						}
						used[role] = true
						bars = append(bars, hBar{Y: y, X0: x, X1: x + v, Color: col})
						x += v
					}
					// Without a role above the resolution, the total alone is drawn, in grey.
					if finite(rc.total) && rc.total > 0 && x == 0 {
						bars = append(bars, hBar{Y: y, X0: 0, X1: rc.total, Color: rgb(0x9d9d9d)})
					}
				}
				p.Add(hBars{bars: bars, Thickness: 0.62})
				p.NominalY(labels...)
				p.X.Min = 0
				fig := Figure{Plot: p, Width: 6.5 * vg.Inch, Height: vg.Length(1.4+0.45*float64(n)) * vg.Inch}
				for _, role := range orderedRoles(boolKeys(used)) {
					col, ok := roleColors[role]
					if !ok {
						col = rgb(0x9d9d9d)
					}
					fig.Add(role, boxThumb{col})
				}
				return fig, nil
			},
		})
	}
	return specs
}

// throughputBeside is, per runtime, the median throughput of a benchmark's series whose
// params include the cost series' params, as text with its unit; the params the
// throughput has beyond them (an operation, a direction) name each value.
func (a *Analysis) throughputBeside(host, bench, params string) map[string]string {
	out := map[string]string{}
	metric, ok := throughputMetrics[bench]
	if !ok {
		return out
	}
	want, err := results.ParseParams(params)
	if err != nil {
		return out
	}
	for _, r := range a.Rows {
		if r.Host != host || r.Benchmark != bench || r.Metric != metric || !finite(r.Summary.Median) {
			continue
		}
		got, err := results.ParseParams(r.Params)
		if err != nil {
			continue
		}
		extra := results.Params{}
		match := true
		for k, v := range got {
			if w, ok := want[k]; ok && w != v {
				match = false
			} else if !ok {
				extra[k] = v
			}
		}
		for k := range want {
			if _, ok := got[k]; !ok {
				match = false
			}
		}
		if !match {
			continue
		}
		v := readable(r.Summary.Median) + " " + r.Unit
		if len(extra) > 0 {
			v = extra.String() + " " + v
		}
		if prev, ok := out[r.Runtime]; ok {
			v = prev + "; " + v
		}
		out[r.Runtime] = v
	}
	return out
}

// orderedRoles sorts roles as roleOrder has them, unknown ones last by name.
func orderedRoles(keys []string) []string {
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := indexOf(roleOrder, keys[i]), indexOf(roleOrder, keys[j])
		if ri < 0 {
			ri = len(roleOrder)
		}
		if rj < 0 {
			rj = len(roleOrder)
		}
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	return keys
}

func floatKeys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func boolKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// readable writes a throughput without exponents: whole numbers from 100 up, else 3
// significant digits.
func readable(v float64) string {
	if math.Abs(v) >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
