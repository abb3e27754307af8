package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure is a plot with its legend beside it (or below it), never over the data.
type Figure struct {
	Plot   *plot.Plot
	Legend []LegendEntry
	// LegendBelow puts the entries in rows under the plot instead of a column to its right.
	LegendBelow bool
	Width       vg.Length
	Height      vg.Length
}

// LegendEntry is one line of a legend: its text and what its sample is drawn with.
type LegendEntry struct {
	Label  string
	Thumbs []plot.Thumbnailer
}

// Add appends a legend entry.
func (f *Figure) Add(label string, thumbs ...plot.Thumbnailer) {
	f.Legend = append(f.Legend, LegendEntry{Label: label, Thumbs: thumbs})
}

// Draw draws the figure onto c. A margin is left on either side: a browser showing the
// SVG without gonum's fonts sets its text in a wider one, which must not be cut off.
func (f Figure) Draw(c draw.Canvas) {
	widenDegenerate(&f.Plot.X)
	widenDegenerate(&f.Plot.Y)
	c = draw.Crop(c, vg.Points(10), -vg.Points(6), 0, 0)
	switch {
	case len(f.Legend) == 0:
		drawPlot(f.Plot, c)
	case f.LegendBelow:
		f.drawBelow(c)
	default:
		f.drawRight(c)
	}
}

// drawPlot draws p onto c. gonum reserves room for a centred x label as though it stood
// at the arithmetic middle of the range, which on a log axis lies far to the right: the
// plot then ends short of its canvas. On a log axis the label is set here instead,
// centred under the data as gonum would draw it.
func drawPlot(p *plot.Plot, c draw.Canvas) {
	label := p.X.Label
	if _, isLog := p.X.Scale.(plot.LogScale); !isLog || label.Text == "" || label.Position != draw.PosCenter {
		p.Draw(c)
		return
	}
	unlabelled := *p
	unlabelled.X.Label.Text = ""
	above := draw.Crop(c, 0, 0, label.TextStyle.Height(label.Text)+label.Padding, 0)
	unlabelled.Draw(above)
	data := unlabelled.DataCanvas(above)
	x := data.Center().X
	c.FillText(label.TextStyle, vg.Point{X: x, Y: c.Min.Y + label.TextStyle.FontExtents().Descent}, label.Text)
}

func (f Figure) drawRight(c draw.Canvas) {
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(24)
	l.Padding = vg.Points(2)
	l.TextStyle.Font.Size = font.Length(10)
	for _, e := range f.Legend {
		l.Add(e.Label, e.Thumbs...)
	}
	w := l.Rectangle(c).Size().X + vg.Points(24)
	if maxW := c.Size().X * 0.3; w > maxW {
		w = maxW
	}
	drawPlot(f.Plot, draw.Crop(c, 0, -w, 0, 0))
	l.Draw(draw.Crop(c, c.Size().X-w+vg.Points(8), 0, 0, -vg.Points(24)))
}

// drawBelow lays the entries out left to right in rows under the plot.
func (f Figure) drawBelow(c draw.Canvas) {
	sty := f.Plot.Legend.TextStyle
	sty.Font.Size = font.Length(9)
	thumbW, gap := vg.Points(18), vg.Points(12)
	rowH := sty.Rectangle("Mg").Size().Y + vg.Points(3)
	left, right := c.Min.X+vg.Points(6), c.Max.X-vg.Points(4)
	type placed struct {
		e    LegendEntry
		x    vg.Length
		row  int
		text vg.Length
	}
	var items []placed
	x, row := left, 0
	for _, e := range f.Legend {
		// A browser's substitute font runs up to a sixth wider than gonum measured.
		tw := sty.Rectangle(e.Label).Size().X * 7 / 6
		w := thumbW + vg.Points(3) + tw
		if x > left && x+w > right {
			x, row = left, row+1
		}
		items = append(items, placed{e, x, row, tw})
		x += w + gap
	}
	stripH := rowH*vg.Length(row+1) + vg.Points(4)
	drawPlot(f.Plot, draw.Crop(c, 0, 0, stripH, 0))
	for _, it := range items {
		y := c.Min.Y + stripH - vg.Points(2) - rowH*vg.Length(it.row+1)
		thumb := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: it.x, Y: y + vg.Points(1)}, Max: vg.Point{X: it.x + thumbW, Y: y + rowH - vg.Points(2)}}}
		for _, t := range it.e.Thumbs {
			t.Thumbnail(&thumb)
		}
		c.FillText(sty, vg.Point{X: it.x + thumbW + vg.Points(3), Y: y + vg.Points(2)}, it.e.Label)
	}
}

func init() {
	// Sans-serif reads better small and on screen; Liberation Sans has the metrics of
	// Arial and Helvetica, which browsers without it fall back to (svgFonts).
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotter.DefaultFont = plot.DefaultFont
}

// svgFonts names fonts with Liberation Sans's metrics after it, so a browser without
// it sets the text in the width gonum measured.
func svgFonts(svg []byte) []byte {
	return bytes.ReplaceAll(svg, []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arimo,Arial,Helvetica,sans-serif;"))
}

// RenderFigure draws f as SVG (returned) and, when dir is not "", writes
// dir/<id>.svg and dir/<id>.png.
func RenderFigure(f Figure, dir, id string) (svgOut []byte, err error) {
	// gonum panics on data it cannot draw; data from a run directory is not trusted to be
	// drawable, and one chart must not take the whole report down with a goroutine dump.
	defer func() {
		if r := recover(); r != nil {
			svgOut, err = nil, fmt.Errorf("chart %s: cannot draw it: %v", id, r)
		}
	}()
	svg := vgsvg.New(f.Width, f.Height)
	f.Draw(draw.New(svg))
	var buf bytes.Buffer
	if _, err := svg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: drawing svg: %w", id, err)
	}
	out := svgFonts(buf.Bytes())
	if dir == "" {
		return out, nil
	}
	if err := writeBytes(filepath.Join(dir, id+".svg"), out); err != nil {
		return nil, fmt.Errorf("writing chart: %w", err)
	}
	img := vgimg.NewWith(vgimg.UseWH(f.Width, f.Height), vgimg.UseDPI(PNGDPI), vgimg.UseBackgroundColor(color.White))
	f.Draw(draw.New(img))
	var png bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&png); err != nil {
		return nil, fmt.Errorf("chart %s: drawing png: %w", id, err)
	}
	if err := writeBytes(filepath.Join(dir, id+".png"), png.Bytes()); err != nil {
		return nil, fmt.Errorf("writing chart: %w", err)
	}
	return out, nil
}

// NiceTicks marks about N major ticks at round steps (1, 2, 2.5 or 5 times a power of
// ten), with a minor tick between each two: gonum's default gives as few as three.
type NiceTicks struct {
	N int
	// Unit is appended to each label ("%" for percentages); usually "".
	Unit string
}

// Ticks implements plot.Ticker.
func (t NiceTicks) Ticks(lo, hi float64) []plot.Tick {
	n := t.N
	if n < 2 {
		n = 6
	}
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	// The round step whose number of ticks comes closest to n.
	step, bestDiff := mag, math.Inf(1)
	for _, m := range []float64{0.5, 1, 2, 2.5, 5, 10} {
		if d := math.Abs((hi-lo)/(m*mag) - float64(n)); d < bestDiff {
			step, bestDiff = m*mag, d
		}
	}
	// As many decimals as the step needs.
	prec := 0
	for prec < 9 {
		scaled := step * math.Pow(10, float64(prec))
		if math.Abs(scaled-math.Round(scaled)) < 1e-6*scaled {
			break
		}
		prec++
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64) + t.Unit})
		if minor := v + step/2; minor < hi {
			ticks = append(ticks, plot.Tick{Value: minor})
		}
	}
	if first := math.Ceil(lo/step-1e-9)*step - step/2; first > lo {
		ticks = append(ticks, plot.Tick{Value: first})
	}
	return ticks
}

// ValueTicks marks exactly the given values (the measured N of a sweep).
func ValueTicks(values []float64) plot.Ticker {
	ticks := make(plot.ConstantTicks, 0, len(values))
	for _, v := range values {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 6, 64)})
	}
	return ticks
}

// textStyle sets the fonts of p a little larger than gonum's defaults, for print.
func textStyle(p *plot.Plot) {
	p.Title.TextStyle.Font.Size = font.Length(13)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = font.Length(11)
		a.Tick.Label.Font.Size = font.Length(10)
	}
}

// NewPlot is a plot styled for isobench's charts.
func NewPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	textStyle(p)
	return p
}

// LogTicks125 labels 1, 2 and 5 times each power of ten on a log axis spanning up to two
// and a half decades (gonum's LogTicks labels only the powers, too few there), and only
// the powers on a wider one; minor ticks between.
type LogTicks125 struct{}

// Ticks implements plot.Ticker.
func (LogTicks125) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return plot.LogTicks{Prec: -1}.Ticks(lo, hi)
	}
	// Over more than two and a half decades only the powers of ten are labelled.
	wide := math.Log10(hi / lo)
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * p
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (m == 2 || m == 5) && wide < 2.5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// widenDegenerate gives an axis a range it can draw. gonum pads an empty range by 1 on
// each side, which a constant series of 1e16 or more swallows (and its tick maker then
// panics), and a log axis must stay above zero (every ratio 1 pads to 0 .. 2).
func widenDegenerate(a *plot.Axis) {
	lo, hi := a.Min, a.Max
	if !finite(lo, hi) {
		return
	}
	if _, isLog := a.Scale.(plot.LogScale); isLog {
		if hi <= 0 {
			lo, hi = 0.8, 1.25
		}
		if lo <= 0 {
			lo = hi / 10
		}
		if hi/lo < 1.01 {
			lo, hi = lo/1.25, hi*1.25
		}
		a.Min, a.Max = lo, hi
		return
	}
	if hi > lo && hi-lo > 1e-9*math.Max(math.Abs(lo), math.Abs(hi)) {
		return
	}
	pad := 0.05 * math.Max(math.Abs(lo), math.Abs(hi))
	if pad == 0 || math.IsInf(lo-pad, 0) || math.IsInf(hi+pad, 0) {
		pad = 1
		if math.Abs(hi) > 1 {
			pad = 0.05 * math.Abs(hi) / 2
		}
	}
	a.Min, a.Max = lo-pad, hi+pad
}
