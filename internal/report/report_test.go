package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/report/fixture"
	"github.com/isobench/isobench/internal/results"
)

func writeFixture(t testing.TB, spec fixture.Spec) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), spec.Host)
	if _, err := fixture.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadStatisticsAndOrder(t *testing.T) {
	dir := writeFixture(t, fixture.Default("alpha", 1))
	a, err := Load(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 4 runtimes x (2 startup + 1 cpu + 2 disk + 4 density) series.
	if len(a.Rows) != 4*9 {
		t.Fatalf("%d rows, want 36", len(a.Rows))
	}
	var classes []string
	for _, r := range a.Rows {
		if r.Benchmark == "startup" && r.Metric == "total" {
			classes = append(classes, r.Class)
			switch r.Runtime {
			case "host":
				if r.Ratio != 1 || !strings.Contains(r.Notes(), "baseline") {
					t.Errorf("baseline row: ratio %g notes %q", r.Ratio, r.Notes())
				}
				if r.Summary.N != 30 {
					t.Errorf("host n = %d, want 30", r.Summary.N)
				}
			case "runsc":
				if r.Ratio < 2.3 || r.Ratio > 2.7 || r.RatioCI.Lo > 2.5 || r.RatioCI.Hi < 2.5 {
					t.Errorf("runsc ratio %g %+v, want about 2.5 with 2.5 inside", r.Ratio, r.RatioCI)
				}
			case "qemu-tcg":
				if !strings.Contains(r.Notes(), EmulatedNote) || !strings.Contains(r.Label(), EmulatedNote) {
					t.Errorf("emulated runtime not marked: %q %q", r.Notes(), r.Label())
				}
				if r.Summary.N != 28 {
					t.Errorf("qemu-tcg n = %d, want 28 (2 failed trials)", r.Summary.N)
				}
			}
		}
	}
	if strings.Join(classes, ",") != "process,container,sandbox,vm" {
		t.Errorf("runtime order by class = %v", classes)
	}
	// density n params sort numerically.
	var ns []string
	for _, r := range a.Rows {
		if r.Runtime == "host" && r.Benchmark == "density" {
			ns = append(ns, r.Params)
		}
	}
	if strings.Join(ns, " ") != "n=1 n=2 n=4 n=8" {
		t.Errorf("density params order = %v", ns)
	}
	for _, want := range []string{"failed trial", "emulated", "virtual machine"} {
		if !strings.Contains(strings.Join(a.Warnings, "\n"), want) {
			t.Errorf("warnings lack %q: %v", want, a.Warnings)
		}
	}
	// Higher-is-better metric: runc delivers 1/1.3 of host.
	for _, r := range a.Rows {
		if r.Runtime == "runc" && r.Metric == "events_per_sec" && math.Abs(r.Ratio-1/1.3) > 0.02 {
			t.Errorf("runc events ratio %g, want %g", r.Ratio, 1/1.3)
		}
	}
}

func TestBaselineOverride(t *testing.T) {
	dir := writeFixture(t, fixture.Default("alpha", 1))
	a, err := Load(context.Background(), []string{dir}, Options{Baseline: "runc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range a.Rows {
		if r.Runtime == "host" && r.Metric == "total" && (r.Ratio > 0.8 || r.Ratio < 0.7) {
			t.Errorf("host relative to runc = %g, want about 1/1.3", r.Ratio)
		}
	}
	a, err = Load(context.Background(), []string{dir}, Options{Baseline: "nosuch"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(a.Warnings, "\n"), `baseline runtime "nosuch" has no samples`) {
		t.Errorf("missing baseline not warned: %v", a.Warnings)
	}
}

func TestTruncatedLastLineIsWarnedAndRestUsed(t *testing.T) {
	dir := writeFixture(t, fixture.Default("alpha", 1))
	path := filepath.Join(dir, results.SamplesFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(b, []byte("\n"))
	// Cut the file in the middle of its last record, as a crash would.
	if err := os.WriteFile(path, b[:len(b)-40], 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := results.LoadDataset(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if d.Samples != lines-1 {
		t.Errorf("used %d samples, want %d", d.Samples, lines-1)
	}
	want := regexp.MustCompile(`samples.jsonl:` + strconv.Itoa(lines) + `: last line is cut short`)
	if !want.MatchString(strings.Join(d.Warnings, "\n")) {
		t.Errorf("warnings %v lack line %d", d.Warnings, lines)
	}
}

func TestWriteFilesAndMultiHost(t *testing.T) {
	a := writeFixture(t, fixture.Default("alpha", 1))
	b := writeFixture(t, fixture.Default("beta", 2))
	out := t.TempDir()
	sum, err := Write(context.Background(), []string{a, b}, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Series != 72 {
		t.Errorf("series %d, want 72", sum.Series)
	}
	// CSV: tidy, one row per series, every column filled where defined.
	f, err := os.Open(sum.CSV)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 73 || strings.Join(recs[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("csv has %d records, header %v", len(recs), recs[0])
	}
	hosts := map[string]bool{}
	for _, r := range recs[1:] {
		hosts[r[0]] = true
	}
	if !hosts["alpha"] || !hosts["beta"] {
		t.Errorf("csv hosts %v", hosts)
	}
	// Every chart has a decodable PNG with ink on it and an SVG.
	kinds := map[string]int{}
	for _, p := range sum.Charts {
		if strings.HasSuffix(p, ".svg") {
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(b, []byte("<svg")) {
				t.Errorf("%s is not an SVG (%v)", p, err)
			}
			continue
		}
		if ink := nonWhitePixels(t, p); ink < 1000 {
			t.Errorf("%s has %d non-white pixels", p, ink)
		}
	}
	for _, c := range sum.Analysis.chartSpecs() {
		kinds[c.Kind]++
	}
	// Per host: 1 overview, bars for startup x2, cpu, disk x2; cdf for startup x2; one line chart for density.
	want := map[string]int{ChartOverview: 2, ChartBars: 10, ChartCDF: 4, ChartLines: 2}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s charts, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	md, err := os.ReadFile(sum.Markdown)
	if err != nil || !bytes.Contains(md, []byte("## Host beta")) || !bytes.Contains(md, []byte(EmulatedNote)) {
		t.Errorf("markdown lacks host beta or emulated note (%v)", err)
	}
	var tbl bytes.Buffer
	if err := Table(&tbl, sum.Analysis); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"host: alpha", "host: beta", "startup/total (ms, lower is better)", "vs host", "qemu-tcg", EmulatedNote} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
}

func decodePNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func nonWhitePixels(t testing.TB, path string) int {
	t.Helper()
	img := decodePNG(t, path)
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
			}
		}
	}
	return n
}

// The HTML page must open offline in a real browser, show something, and hold every chart.
func TestHTMLInHeadlessChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium) so the page cannot be opened")
	}
	dir := writeFixture(t, fixture.Default("alpha", 1))
	out := t.TempDir()
	sum, err := Write(context.Background(), []string{dir}, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(sum.HTML)
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Match(page) {
		t.Fatal("the page loads something from the network")
	}
	args := func(extra ...string) []string {
		return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir()}, extra...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	shot := filepath.Join(t.TempDir(), "shot.png")
	cmd := exec.CommandContext(ctx, chromium, args("--screenshot="+shot, "--window-size=1280,4000", "file://"+sum.HTML)...)
	if outp, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, outp)
	}
	if ink := nonWhitePixels(t, shot); ink < 50000 {
		t.Errorf("screenshot has only %d non-white pixels: the page looks blank", ink)
	}
	dom, err := exec.CommandContext(ctx, chromium, args("--dump-dom", "file://"+sum.HTML)...).Output()
	if err != nil {
		t.Fatalf("chromium dump-dom: %v", err)
	}
	imgs := regexp.MustCompile(`<img [^>]*data-chart="([^"]+)"`).FindAllSubmatch(dom, -1)
	inPage := map[string]bool{}
	for _, m := range imgs {
		inPage[string(m[1])] = true
	}
	specs := sum.Analysis.chartSpecs()
	for _, c := range specs {
		if !inPage[c.ID] {
			t.Errorf("chart %s is not in the rendered page", c.ID)
		}
	}
	// Every metric has at least one chart.
	for _, r := range sum.Analysis.Rows {
		if !regexp.MustCompile(`<img [^>]*data-metric="` + regexp.QuoteMeta(r.Metric) + `"`).Match(dom) {
			t.Errorf("metric %s has no chart in the page", r.Metric)
		}
	}
	if len(imgs) != len(specs) {
		t.Errorf("%d chart images in the page, want %d", len(imgs), len(specs))
	}
	for _, want := range []string{"Warnings", "Environment", "sha256:0123456789abcdef", "6.1.0-fixture", EmulatedNote} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
}

// BenchmarkReport1M is the whole report (read, statistics, CSV, Markdown, HTML and
// every chart) over a run of 1,000,000 samples written by fixture.Scale.
func BenchmarkReport1M(b *testing.B) {
	spec := fixture.Scale()
	perTrial := 0
	for _, m := range spec.Metrics {
		perTrial += max(len(m.Params), 1) * len(spec.Runtimes)
	}
	spec.Trials = 1_000_000 / perTrial
	dir := filepath.Join(b.TempDir(), "run")
	n, err := fixture.Write(dir, spec)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n), "samples")
	b.ResetTimer()
	for b.Loop() {
		if _, err := Write(context.Background(), []string{dir}, b.TempDir(), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
