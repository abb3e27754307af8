package report

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/isobench/isobench/internal/changepoint"
	"github.com/isobench/isobench/internal/history"
	"github.com/isobench/isobench/internal/history/historytest"
	"github.com/isobench/isobench/internal/report/fixture"
)

// A report written again into the same directory removes the charts it no longer draws,
// and only those: not a file someone else put there, not a planted symlink, not a path
// a tampered list names.
func TestRewrittenReportRemovesItsStaleCharts(t *testing.T) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "report")
	first, err := Write(ctx, []string{writeFixture(t, fixture.Default("alpha", 1))}, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	charts := filepath.Join(out, ChartsDir)
	target := precious(t)
	if err := os.Symlink(target, filepath.Join(charts, "planted.png")); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(charts, "notes.png")
	if err := os.WriteFile(mine, []byte("a reader's own file"), 0o644); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(charts, reportChartList)
	listed, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	tampered := append(listed, []byte("planted.png\n../"+HTMLFile+"\n."+HTMLFile+".png\n")...)
	if err := os.WriteFile(list, tampered, 0o644); err != nil {
		t.Fatal(err)
	}

	spec := fixture.Default("alpha", 1)
	spec.Metrics = spec.Metrics[:1] // start-up total only
	second, err := Write(ctx, []string{writeFixture(t, spec)}, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Charts) >= len(first.Charts) {
		t.Fatalf("the second report draws %d chart files, the first %d: nothing to remove", len(second.Charts), len(first.Charts))
	}
	stale := 0
	for _, c := range first.Charts {
		_, err := os.Lstat(c)
		switch {
		case slices.Contains(second.Charts, c):
			if err != nil {
				t.Errorf("%s of the second report: %v", c, err)
			}
		case !errors.Is(err, os.ErrNotExist):
			t.Errorf("%s of the first report only is still there (%v)", c, err)
		default:
			stale++
		}
	}
	if stale == 0 {
		t.Error("no chart of the first report was removed")
	}
	for _, c := range second.Charts {
		if _, err := os.Stat(c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	assertPrecious(t, target)
	if st, err := os.Lstat(filepath.Join(charts, "planted.png")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted symlink was touched: %v", err)
	}
	for _, keep := range []string{mine, filepath.Join(out, HTMLFile)} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s is gone: %v", keep, err)
		}
	}
	// The list holds the second report's charts now, no more.
	got, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	names := make([]string, 0, len(second.Charts))
	for _, c := range second.Charts {
		names = append(names, filepath.Base(c))
	}
	slices.Sort(names)
	for _, n := range names {
		want = append(want, n+"\n"...)
	}
	if string(got) != string(want) {
		t.Errorf("list after the second report:\n%s\nwant:\n%s", got, want)
	}
}

// The history report keeps its own list: a history report with fewer courses removes
// the charts of the earlier one and leaves a report's charts in the same directory.
func TestRewrittenHistoryReportRemovesItsStaleCharts(t *testing.T) {
	ctx := context.Background()
	dirs := historytest.StepHistory(t, 12, 8)
	var runs []history.RunInfo
	var points []history.Point
	for _, dir := range dirs {
		run, err := history.ReadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, history.RunInfo{ID: run.ID, Dir: run.Dir, Started: run.Env.Started})
		points = append(points, run.Series...)
	}
	out := t.TempDir()
	report, err := Write(ctx, dirs[:1], out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	write := func(points []history.Point) []string {
		courses, notes, err := history.Courses(runs, points, history.ByTime, changepoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := WriteHistory(ctx, runs, courses, notes, out, HistoryOptions{By: history.ByTime}); err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob(filepath.Join(out, ChartsDir, "history_*"))
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	all := write(points)
	var fewer []history.Point
	for _, p := range points {
		if p.Benchmark == "startup" {
			fewer = append(fewer, p)
		}
	}
	left := write(fewer)
	if len(left) == 0 || len(left) >= len(all) {
		t.Fatalf("%d history chart files after the second history report, %d after the first", len(left), len(all))
	}
	for _, c := range report.Charts {
		if _, err := os.Stat(c); err != nil {
			t.Errorf("the report's chart %s is gone: %v", c, err)
		}
	}
}
