package report

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// charts/<id>.png|svg into outDir (made if missing).
func Write(ctx context.Context, runDirs []string, outDir string, opts Options) (Summary, error) {
	a, err := Load(ctx, runDirs, opts)
	if err != nil {
		return Summary{}, err
	}
	return WriteAnalysis(ctx, a, outDir)
}

// WriteAnalysis writes the report files of an analysis already loaded.
func WriteAnalysis(ctx context.Context, a *Analysis, outDir string) (Summary, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("creating report directory: %w", err)
	}
	sum := Summary{Dir: outDir, HTML: filepath.Join(outDir, HTMLFile), CSV: filepath.Join(outDir, CSVFile),
		Markdown: filepath.Join(outDir, MarkdownFile), Series: len(a.Rows), Samples: a.Samples, Warnings: a.Warnings, Analysis: a}
	charts, err := renderCharts(ctx, a.chartSpecs(), filepath.Join(outDir, ChartsDir))
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
	return sum, nil
}

// writeFile writes through a temporary file and renames, so a reader never sees half a report.
func writeFile(path string, fill func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	bw := bufio.NewWriter(f)
	if err := fill(bw); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
