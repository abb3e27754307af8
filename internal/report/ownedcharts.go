package report

import (
	"errors"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/isobench/isobench/internal/safefile"
)

// The lists, in a charts directory, of the chart files a writer made there; `report`
// and `history report` keep one each, so either may share the directory.
const (
	reportChartList  = ".isobench-report-charts"
	historyChartList = ".isobench-history-charts"
)

// chartFileName is how a writer names its chart files: a slug and .png or .svg. A list
// line of any other form (a path, a hidden name) names no file a writer made.
var chartFileName = regexp.MustCompile(`^[A-Za-z0-9-][A-Za-z0-9._-]{0,199}\.(png|svg)$`)

// maxChartList bounds the list read back: far above any report's, far below harm.
const maxChartList = 4 << 20

// ownedCharts are the chart files one writer made in its charts directory, kept in a
// list there, so that a report written again into the directory removes the charts it
// no longer draws, and nothing else: not a file it did not list, not a symlink.
type ownedCharts struct {
	dir         *safefile.Dir
	list        string
	before, now map[string]bool
}

// openOwnedCharts opens (making it if missing) the charts directory and reads the
// writer's list from the report written there before.
func openOwnedCharts(chartDir, list string) (*ownedCharts, error) {
	d, err := safefile.Open(chartDir, 0o755)
	if err != nil {
		return nil, err
	}
	o := &ownedCharts{dir: d, list: list, before: map[string]bool{}, now: map[string]bool{}}
	b, err := d.ReadFile(list, maxChartList)
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, safefile.ErrSymlink):
		// No list, or one the writer did not make (it writes no symlinks): nothing is
		// known to be its own, and the list written next replaces the link.
	case err != nil:
		return nil, errors.Join(err, d.Close())
	}
	for _, name := range strings.Split(string(b), "\n") {
		if chartFileName.MatchString(name) {
			o.before[name] = true
		}
	}
	return o, nil
}

// claim lists the PNG and SVG of the chart id before they are written, so that a
// report that fails half-way still lists every file it made.
func (o *ownedCharts) claim(ids ...string) error {
	for _, id := range ids {
		o.now[id+".png"], o.now[id+".svg"] = true, true
	}
	all := maps.Clone(o.before)
	maps.Copy(all, o.now)
	return o.writeList(all)
}

// finish removes the files the earlier report made that this one did not draw, and
// lists only this report's.
func (o *ownedCharts) finish() error {
	for _, name := range slices.Sorted(maps.Keys(o.before)) {
		if o.now[name] {
			continue
		}
		if _, err := o.dir.RemoveFile(name); err != nil {
			return err
		}
	}
	o.before = maps.Clone(o.now)
	return o.writeList(o.now)
}

func (o *ownedCharts) writeList(names map[string]bool) error {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(names)) {
		b.WriteString(name)
		b.WriteByte('\n')
	}
	return o.dir.WriteBytes(o.list, 0o644, []byte(b.String()))
}

func (o *ownedCharts) Close() error { return o.dir.Close() }
