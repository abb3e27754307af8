package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure is a plot with its legend in a strip to the right of it, so the legend never
// covers data.
type Figure struct {
	Plot   *plot.Plot
	Legend *plot.Legend
	Width  vg.Length
	Height vg.Length
}

// NewLegend is a legend for a Figure: its entries top-left in the strip.
func NewLegend() *plot.Legend {
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(24)
	l.Padding = vg.Points(2)
	return &l
}

// Draw draws the figure onto c.
func (f Figure) Draw(c draw.Canvas) {
	if f.Legend == nil {
		f.Plot.Draw(c)
		return
	}
	w := f.Legend.Rectangle(c).Size().X + vg.Points(24)
	if maxW := c.Size().X * 0.3; w > maxW {
		w = maxW
	}
	plotArea := draw.Crop(c, 0, -w, 0, 0)
	f.Plot.Draw(plotArea)
	legendArea := draw.Crop(c, c.Size().X-w+vg.Points(8), 0, 0, -vg.Points(24))
	f.Legend.Draw(legendArea)
}

// RenderFigure draws f as SVG (returned) and, when dir is not "", writes
// dir/<id>.svg and dir/<id>.png.
func RenderFigure(f Figure, dir, id string) ([]byte, error) {
	svg := vgsvg.New(f.Width, f.Height)
	f.Draw(draw.New(svg))
	var buf bytes.Buffer
	if _, err := svg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: drawing svg: %w", id, err)
	}
	if dir == "" {
		return buf.Bytes(), nil
	}
	if err := os.WriteFile(filepath.Join(dir, id+".svg"), buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("writing chart: %w", err)
	}
	img := vgimg.NewWith(vgimg.UseWH(f.Width, f.Height), vgimg.UseDPI(PNGDPI), vgimg.UseBackgroundColor(color.White))
	f.Draw(draw.New(img))
	var png bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&png); err != nil {
		return nil, fmt.Errorf("chart %s: drawing png: %w", id, err)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".png"), png.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("writing chart: %w", err)
	}
	return buf.Bytes(), nil
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
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	prec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if step/math.Pow(10, math.Floor(math.Log10(step)+1e-9)) == 2.5 {
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
