package report

import (
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/isobench/isobench/internal/changepoint"
	"github.com/isobench/isobench/internal/history"
	"github.com/isobench/isobench/internal/results"
)

// HistoryFile is the page `isobench history report` writes.
const HistoryFile = "history.html"

// HistoryOptions describe how the courses of a history page were made.
type HistoryOptions struct {
	Title string
	// By is history.ByTime or a label name.
	By string
	// Where names the database.
	Where       string
	ChangePoint changepoint.Options
}

// HistorySummary tells where a history page was written.
type HistorySummary struct {
	HTML    string
	Charts  int
	Changes int
	Courses int
}

type historyChart struct {
	ID, Title string
	SVG       []byte
	Changes   int
}

type historyChange struct {
	Course   history.Course
	Change   history.Change
	Worse    bool
	Compare  string
	ChartID  string
	Relative string
}

type historyBenchmark struct {
	Name   string
	Charts []historyChart
}

type historyPage struct {
	Title        string
	Runs         []history.RunInfo
	First, Last  time.Time
	By           string
	Where        string
	Courses      int
	Alpha        float64
	Permutations int
	Seed         uint64
	MinSize      int
	FalseAlarms  float64
	Notes        []string
	Changes      []historyChange
	Changed      []historyChart
	All          []historyBenchmark
}

// WriteHistory draws every course (grouped per metric, a line per runtime) and writes
// outDir/history.html with the change points first.
func WriteHistory(ctx context.Context, runs []history.RunInfo, courses []history.Course, notes []string, outDir string, opts HistoryOptions) (HistorySummary, error) {
	cp := opts.ChangePoint
	if cp.Alpha <= 0 {
		cp.Alpha = changepoint.DefaultAlpha
	}
	if cp.Permutations <= 0 {
		cp.Permutations = changepoint.DefaultPermutations
	}
	if cp.Seed == 0 {
		cp.Seed = changepoint.DefaultSeed
	}
	if cp.MinSize <= 0 {
		cp.MinSize = changepoint.DefaultMinSize
	}
	title := opts.Title
	if title == "" {
		title = "isobench history"
	}
	page := historyPage{Title: title, Runs: runs, By: opts.By, Where: opts.Where, Courses: len(courses),
		Alpha: cp.Alpha, Permutations: cp.Permutations, Seed: cp.Seed, MinSize: cp.MinSize,
		FalseAlarms: cp.Alpha * float64(len(courses)), Notes: notes}
	if len(runs) > 0 {
		page.First, page.Last = runs[0].Started, runs[len(runs)-1].Started
	}
	longest := 0
	for _, c := range courses {
		longest = max(longest, len(c.Points))
	}
	if longest < 2*cp.MinSize {
		page.Notes = append(page.Notes, fmt.Sprintf("No series has %d points yet, the fewest in which a change can be found (segments of at least %d on either side): add more runs.",
			2*cp.MinSize, cp.MinSize))
	}
	chartDir := filepath.Join(outDir, ChartsDir)
	if err := makeDir(outDir); err != nil {
		return HistorySummary{}, err
	}
	owned, err := openOwnedCharts(chartDir, historyChartList)
	if err != nil {
		return HistorySummary{}, fmt.Errorf("history report directory: %w", err)
	}
	defer owned.Close()
	groups := groupCourses(courses)
	used := map[string]int{}
	newID := func(key string) string {
		id := slug("history_" + key)
		used[id]++
		if used[id] > 1 {
			id = fmt.Sprintf("%s_%d", id, used[id])
		}
		return id
	}
	render := func(g courseGroup, id string) (historyChart, error) {
		if err := ctx.Err(); err != nil {
			return historyChart{}, err
		}
		fig, err := historyFigure(g, opts.By)
		if err != nil {
			return historyChart{}, fmt.Errorf("chart %s: %w", id, err)
		}
		if err := owned.claim(id); err != nil {
			return historyChart{}, err
		}
		svg, err := RenderFigure(fig, chartDir, id)
		if err != nil {
			return historyChart{}, err
		}
		hc := historyChart{ID: id, Title: g.title, SVG: svg}
		for _, c := range g.courses {
			hc.Changes += len(c.Changes)
		}
		return hc, nil
	}
	// A changed series gets a chart of its own, scaled to it; every metric also gets
	// one with all runtimes, folded per benchmark.
	for _, g := range groups {
		for _, c := range g.courses {
			if len(c.Changes) == 0 {
				continue
			}
			single := courseGroup{key: g.key + "_" + c.Runtime, title: c.Runtime + ": " + g.title, courses: []history.Course{c}}
			id := newID(single.key)
			hc, err := render(single, id)
			if err != nil {
				return HistorySummary{}, err
			}
			page.Changed = append(page.Changed, hc)
			for _, ch := range c.Changes {
				page.Changes = append(page.Changes, historyChange{Course: c, Change: ch, Worse: ch.Worse(c.Better), ChartID: id,
					Compare:  fmt.Sprintf("isobench compare %s %s", shellQuote(ch.BeforeRun.Dir), shellQuote(ch.AfterRun.Dir)),
					Relative: relativeChange(ch.Ratio)})
			}
		}
	}
	for _, g := range groups {
		hc, err := render(g, newID(g.key))
		if err != nil {
			return HistorySummary{}, err
		}
		bench := g.courses[0].Benchmark
		if n := len(page.All); n == 0 || page.All[n-1].Name != bench {
			page.All = append(page.All, historyBenchmark{Name: bench})
		}
		page.All[len(page.All)-1].Charts = append(page.All[len(page.All)-1].Charts, hc)
	}
	// The worst regressions first.
	sort.SliceStable(page.Changes, func(i, j int) bool {
		a, b := page.Changes[i], page.Changes[j]
		if a.Worse != b.Worse {
			return a.Worse
		}
		return math.Abs(math.Log(a.Change.Ratio)) > math.Abs(math.Log(b.Change.Ratio))
	})
	sum := HistorySummary{HTML: filepath.Join(outDir, HistoryFile), Charts: len(groups), Changes: len(page.Changes), Courses: len(courses)}
	if err := writeFile(sum.HTML, func(w io.Writer) error {
		if err := historyTemplate.Execute(w, page); err != nil {
			return fmt.Errorf("writing history page: %w", err)
		}
		return nil
	}); err != nil {
		return HistorySummary{}, err
	}
	if err := owned.finish(); err != nil {
		return HistorySummary{}, fmt.Errorf("removing the charts of the earlier history report: %w", err)
	}
	return sum, nil
}

// relativeChange words a ratio as "+25.0%".
func relativeChange(ratio float64) string {
	if !finite(ratio) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*(ratio-1))
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:+=@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

type courseGroup struct {
	key, title string
	courses    []history.Course
}

// groupCourses puts the courses of one host, benchmark, metric and params together.
func groupCourses(courses []history.Course) []courseGroup {
	var out []courseGroup
	idx := map[string]int{}
	hosts := map[string]bool{}
	for _, c := range courses {
		hosts[c.Host] = true
	}
	for _, c := range courses {
		key := strings.Join([]string{c.Host, c.Benchmark, c.Metric, c.Params}, "_")
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			title := c.Title()
			if len(hosts) > 1 {
				title = c.Host + ": " + title
			}
			out = append(out, courseGroup{key: key, title: title})
		}
		out[i].courses = append(out[i].courses, c)
	}
	for _, g := range out {
		sort.SliceStable(g.courses, func(i, j int) bool { return classRank(g.courses[i].Class) < classRank(g.courses[j].Class) })
	}
	return out
}

// historyFigure: a line per runtime through the medians of the runs, whiskers at their
// 95% intervals, and a dashed vertical line at every change point.
func historyFigure(g courseGroup, by string) (Figure, error) {
	first := g.courses[0]
	p := NewPlot(g.title + " over runs")
	unit := first.Unit
	if unit == "" {
		unit = "no unit"
	}
	p.Y.Label.Text = fmt.Sprintf("median, %s (%s is better)", unit, first.Better)
	p.Y.Tick.Marker = NiceTicks{N: 6}
	fig := Figure{Plot: p, Width: 7.5 * vg.Inch, Height: 3.6 * vg.Inch}

	// x: the start time (by time) or the position of the label value among all values.
	var labels []string
	labelPos := map[string]float64{}
	if by != history.ByTime {
		type firstSeen struct {
			label string
			at    time.Time
		}
		var seen []firstSeen
		for _, c := range g.courses {
			for _, pt := range c.Points {
				if _, ok := labelPos[pt.Label]; !ok {
					labelPos[pt.Label] = 0
					seen = append(seen, firstSeen{pt.Label, pt.Time})
				}
			}
		}
		sort.SliceStable(seen, func(i, j int) bool { return seen[i].at.Before(seen[j].at) })
		for i, s := range seen {
			labelPos[s.label] = float64(i)
			labels = append(labels, s.label)
		}
	}
	xOf := func(pt history.CoursePoint) float64 {
		if by == history.ByTime {
			return float64(pt.Time.Unix())
		}
		return labelPos[pt.Label]
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	changes := 0
	for _, c := range g.courses {
		changes += len(c.Changes)
		for _, pt := range c.Points {
			l, h := pt.MedianCI.Lo, pt.MedianCI.Hi
			if !pt.MedianCI.OK || !finite(l, h) {
				l, h = pt.Median, pt.Median
			}
			lo, hi = math.Min(lo, l), math.Max(hi, h)
		}
	}
	for _, c := range g.courses {
		st := RuntimeStyle(c.Runtime, c.Class, c.Emulated)
		var pts ciPoints
		for _, pt := range c.Points {
			y, l, h := pt.Median, pt.MedianCI.Lo, pt.MedianCI.Hi
			if !pt.MedianCI.OK || !finite(l, h) {
				l, h = y, y
			}
			pts.add(xOf(pt), y, l, h)
		}
		line, scatter, err := plotter.NewLinePoints(pts)
		if err != nil {
			return Figure{}, err
		}
		line.Color, line.Dashes, line.Width = st.Color, st.Dashes, vg.Points(1.4)
		scatter.Color, scatter.Shape, scatter.Radius = st.Color, st.Glyph, vg.Points(2.5)
		eb, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return Figure{}, err
		}
		eb.Color = st.Color
		eb.CapWidth = vg.Points(4)
		p.Add(line, scatter, eb)
		name := c.Runtime
		if c.Emulated {
			name += " (emulated)"
		}
		fig.Add(name, line, scatter)
		for _, ch := range c.Changes {
			x := (xOf(c.Points[ch.Index-1]) + xOf(c.Points[ch.Index])) / 2
			mark, err := plotter.NewLine(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}})
			if err != nil {
				return Figure{}, err
			}
			mark.Color, mark.Width = st.Color, vg.Points(1.2)
			mark.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			tag, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: x, Y: hi}},
				Labels: []string{fmt.Sprintf(" %s %s", c.Runtime, relativeChange(ch.Ratio))}})
			if err != nil {
				return Figure{}, err
			}
			tag.TextStyle[0].Color = st.Color
			p.Add(mark, tag)
		}
	}
	fig.Add("95% CI", ciThumb{})
	if changes > 0 {
		fig.Add("change point", changeThumb{})
	}
	if by == history.ByTime {
		p.X.Label.Text = "run start (UTC)"
		p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01-02"}
	} else {
		p.X.Label.Text = "runs by " + by + " (in order of their first run)"
		p.X.Tick.Marker = labelTicks(labels)
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = text.XRight
		p.X.Min, p.X.Max = -0.5, float64(len(labels))-0.5
	}
	switch {
	case lo > 0 && hi/lo > 20:
		// A VM and a process differ by orders of magnitude: a log axis shows both.
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = LogTicks125{}
		p.Y.Label.Text += ", log scale"
		p.Y.Max = hi * 1.5
	case finite(lo, hi) && hi > lo:
		// Headroom for the change-point labels.
		p.Y.Max = hi + 0.12*(hi-lo)
	}
	p.Add(plotter.NewGrid())
	return fig, nil
}

// labelTicks names positions 0..n-1, at most about 16 of them so labels do not collide.
func labelTicks(labels []string) plot.Ticker {
	step := max(1, (len(labels)+15)/16)
	var ticks plot.ConstantTicks
	for i, l := range labels {
		t := plot.Tick{Value: float64(i)}
		if i%step == 0 {
			if len(l) > 14 {
				l = l[:13] + "…"
			}
			t.Label = l
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// ciThumb is the legend's sample of an interval whisker.
type ciThumb struct{}

func (ciThumb) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	st := draw.LineStyle{Color: color.Gray{0x55}, Width: vg.Points(1)}
	c.StrokeLine2(st, x, c.Min.Y, x, c.Max.Y)
	c.StrokeLine2(st, x-vg.Points(3), c.Min.Y, x+vg.Points(3), c.Min.Y)
	c.StrokeLine2(st, x-vg.Points(3), c.Max.Y, x+vg.Points(3), c.Max.Y)
}

// changeThumb is the legend's sample of a change-point line.
type changeThumb struct{}

func (changeThumb) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(draw.LineStyle{Color: color.Gray{0x55}, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}},
		x, c.Min.Y, x, c.Max.Y)
}

var historyTemplate = template.Must(template.New("history").Funcs(template.FuncMap{
	"svgURI": func(b []byte) template.URL {
		return template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(b))
	},
	"num":  num,
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"pct":  func(v float64) string { return fmt.Sprintf("%.2g", v) },
	"better": func(b results.Better) string {
		return string(b)
	},
	"labels": formatKV,
	// A run's directory on this machine, where its report and samples are.
	"runURL": func(dir string) template.URL {
		return template.URL((&url.URL{Scheme: "file", Path: dir}).String())
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.2em auto;max-width:1150px;padding:0 1em;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.4em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.88em}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
.worse{color:#a31515;font-weight:600}.better{color:#1b6e2a;font-weight:600}
.note{color:#555;font-size:.9em}code{font-size:.85em;background:#f6f6f6;padding:0 .2em;word-break:break-all}
figure{margin:.4em 0}figure img{max-width:100%;border:1px solid #eee}
details{margin:.4em 0}summary{cursor:pointer;font-weight:600}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="note">{{len .Runs}} runs{{if .Runs}} from {{date .First}} to {{date .Last}} UTC{{end}} in {{.Where}}; {{.Courses}} series, ordered by {{if eq .By "time"}}run start time{{else}}label <b>{{.By}}</b> (runs sharing a value pooled){{end}}.
Points are medians with distribution-free 95% intervals (order statistics; none where a point has fewer than 6 samples). Change points: E-divisive means (Matteson &amp; James 2014, as in MongoDB's performance CI) on the run medians,
each kept only if a permutation test ({{.Permutations}} shuffles, seed {{.Seed}}) gives p &le; {{.Alpha}}; segments hold at least {{.MinSize}} points.
At this level about {{pct .FalseAlarms}} false alarm(s) are expected by chance among {{.Courses}} series.</p>
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
<h2 id="changes">{{if .Changes}}{{len .Changes}} change point(s){{else}}No change point{{end}}</h2>
{{if .Changes}}<table data-section="change-points"><tr><th>series</th><th>runtime</th><th>last run before</th><th>first run after</th><th>median before &rarr; after</th><th>change</th><th>p</th><th>look closer</th></tr>
{{range .Changes}}<tr data-change="{{.Course.Runtime}} {{.Course.Title}}"><td><a href="#{{.ChartID}}">{{.Course.Title}}</a></td><td>{{.Course.Runtime}}</td>
<td><a href="{{runURL .Change.BeforeRun.Dir}}">{{.Change.BeforeRun.ID}}</a><br><span class="note">{{date .Change.BeforeRun.Started}}</span></td><td><a href="{{runURL .Change.AfterRun.Dir}}">{{.Change.AfterRun.ID}}</a><br><span class="note">{{date .Change.AfterRun.Started}}</span></td>
<td class="n">{{num .Change.Before}} &rarr; {{num .Change.After}} {{.Course.Unit}}</td>
<td class="n {{if .Worse}}worse{{else}}better{{end}}">{{.Relative}} ({{if .Worse}}worse{{else}}better{{end}}; {{better .Course.Better}} is better)</td><td class="n">{{printf "%.3f" .Change.P}}</td>
<td><code>{{.Compare}}</code></td></tr>
{{end}}</table>
{{else}}<p>No series changed significantly over these runs.</p>{{end}}
{{range .Changed}}<figure id="{{.ID}}"><img src="{{svgURI .SVG}}" alt="{{.Title}} over runs" data-chart="{{.ID}}" data-changes="{{.Changes}}"></figure>
{{end}}
{{if .All}}<h2>Every series</h2>
{{range .All}}<details><summary>{{.Name}} ({{len .Charts}} chart(s))</summary>
{{range .Charts}}<figure id="{{.ID}}"><img src="{{svgURI .SVG}}" alt="{{.Title}} over runs" data-chart="{{.ID}}" data-changes="{{.Changes}}"></figure>
{{end}}</details>
{{end}}{{end}}
<h2>Runs</h2>
<details><summary>{{len .Runs}} runs</summary>
<table><tr><th>run</th><th>started (UTC)</th><th>hosts</th><th>isobench</th><th>kernel</th><th>failed trials</th><th>labels</th><th>directory</th></tr>
{{range .Runs}}<tr><td>{{.ID}}</td><td>{{date .Started}}</td><td>{{.Hosts}}</td><td>{{.IsobenchVersion}} {{.IsobenchCommit}}</td><td>{{.Kernel}}</td><td class="n">{{.Failures}}</td><td>{{labels .Labels}}</td><td><code>{{.Dir}}</code></td></tr>
{{end}}</table></details>
</body></html>
`))

// formatKV is "k=v, k=v" sorted by key.
func formatKV(m map[string]string) string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ", ")
}
