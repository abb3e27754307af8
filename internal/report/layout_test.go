package report

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/isobench/isobench/internal/report/fixture"
)

// rightmostInk is the last pixel column of a PNG with anything darker than light grey.
func rightmostInk(t testing.TB, path string) (col, width int) {
	t.Helper()
	img := decodePNG(t, path)
	b := img.Bounds()
	for x := b.Max.X - 1; x >= b.Min.X; x-- {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r < 0xc000 || g < 0xc000 || bl < 0xc000 {
				return x, b.Dx()
			}
		}
	}
	return -1, b.Dx()
}

// Charts on a log x axis (the overview, wide start-up distributions) reach the right
// edge of their canvas instead of ending short of it (gonum sizes the centred x label as
// though it stood at the arithmetic middle of the log range).
func TestLogAxisChartsUseTheirWidth(t *testing.T) {
	sum, err := Write(context.Background(), []string{writeFixture(t, fixture.Thesis("alpha", 1, 10))}, filepath.Join(t.TempDir(), "report"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The figure keeps a 6-point margin at the right; a ring glyph may stand in it.
	margin := 6*PNGDPI/72 + 6
	checked := 0
	for _, c := range sum.Analysis.chartSpecs() {
		if c.Kind != ChartOverview && c.ID != "alpha_startup_create_cdf" {
			continue
		}
		checked++
		col, width := rightmostInk(t, filepath.Join(sum.Dir, ChartsDir, c.ID+".png"))
		if col < width-1-margin {
			t.Errorf("%s: ink ends at column %d of %d, %d px short of the edge", c.ID, col, width, width-1-col)
		}
	}
	if checked != 2 {
		t.Fatalf("checked %d charts, want the overview and the create distribution", checked)
	}
}
