package report

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/isobench/isobench/internal/safefile"
)

// Output file names inside a report directory.
const (
	HTMLFile     = "report.html"
	CSVFile      = "report.csv"
	MarkdownFile = "report.md"
	ChartsDir    = "charts"
)

// Summary tells where a report was written and what it holds.
type Summary struct {
	Dir      string
	HTML     string
	CSV      string
	Markdown string
	// Charts are the chart files, a PNG and an SVG each.
	Charts   []string
	Series   int
	Samples  int
	Warnings []string
	// Analysis is the report's content, for Table.
	Analysis *Analysis
}

// Write reads the run directories and writes report.html, report.csv, report.md and
// charts/<id>.png|svg into outDir (made if missing). Charts an earlier report wrote
// there and this one does not draw are removed.
func Write(ctx context.Context, runDirs []string, outDir string, opts Options) (Summary, error) {
	a, err := Load(ctx, runDirs, opts)
	if err != nil {
		return Summary{}, err
	}
	return WriteAnalysis(ctx, a, outDir)
}

// WriteAnalysis writes the report files of an analysis already loaded.
func WriteAnalysis(ctx context.Context, a *Analysis, outDir string) (Summary, error) {
	if err := makeDir(outDir); err != nil {
		return Summary{}, err
	}
	sum := Summary{Dir: outDir, HTML: filepath.Join(outDir, HTMLFile), CSV: filepath.Join(outDir, CSVFile),
		Markdown: filepath.Join(outDir, MarkdownFile), Series: len(a.Rows), Samples: a.Samples, Warnings: a.Warnings, Analysis: a}
	specs := a.chartSpecs()
	owned, err := openOwnedCharts(filepath.Join(outDir, ChartsDir), reportChartList)
	if err != nil {
		return Summary{}, fmt.Errorf("report directory: %w", err)
	}
	defer owned.Close()
	ids := make([]string, len(specs))
	for i, s := range specs {
		ids[i] = s.ID
	}
	if err := owned.claim(ids...); err != nil {
		return Summary{}, err
	}
	charts, err := renderCharts(ctx, specs, filepath.Join(outDir, ChartsDir))
	if err != nil {
		return Summary{}, err
	}
	for _, c := range charts {
		base := filepath.Join(outDir, ChartsDir, c.ID)
		sum.Charts = append(sum.Charts, base+".png", base+".svg")
	}
	if err := writeFile(sum.CSV, func(w io.Writer) error { return CSV(w, a) }); err != nil {
		return Summary{}, err
	}
	if err := writeFile(sum.Markdown, func(w io.Writer) error { return Markdown(w, a) }); err != nil {
		return Summary{}, err
	}
	if err := writeFile(sum.HTML, func(w io.Writer) error { return HTML(w, a, charts) }); err != nil {
		return Summary{}, err
	}
	if err := owned.finish(); err != nil {
		return Summary{}, fmt.Errorf("removing the charts of the earlier report: %w", err)
	}
	return sum, nil
}

// makeDir creates dir if missing and refuses it when it is a symlink: a run directory
// received from someone else may hold one at report/ or report/charts/.
func makeDir(dir string) error {
	d, err := safefile.Open(dir, 0o755)
	if err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	return d.Close()
}

// writeFile writes path through a new temporary file renamed over it (safefile), so a
// reader never sees half a report and a symlink planted at path is replaced, not followed.
func writeFile(path string, fill func(io.Writer) error) error {
	d, err := safefile.Open(filepath.Dir(path), 0o755)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer d.Close()
	return d.Write(filepath.Base(path), 0o644, fill)
}

// writeBytes is writeFile for data in memory.
func writeBytes(path string, data []byte) error {
	return writeFile(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
