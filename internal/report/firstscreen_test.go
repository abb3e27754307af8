package report

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/compare"
	"github.com/isobench/isobench/internal/report/fixture"
	"github.com/isobench/isobench/internal/stats"
)

func thesisReport(t *testing.T, trials int) Summary {
	t.Helper()
	dir := writeFixture(t, fixture.Thesis("alpha", 1, trials))
	sum, err := Write(context.Background(), []string{dir}, filepath.Join(t.TempDir(), "report"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// A difference is claimed only where the comparison's test is significant and its
// interval lies on one side of no change; crun, measured like runc, is never claimed
// to differ; with three trials nothing is.
func TestSentencesOnlyWhereTheStatisticsSupportThem(t *testing.T) {
	sum := thesisReport(t, 30)
	panels := sum.Analysis.Panels
	var ids []string
	for _, p := range panels {
		ids = append(ids, p.Topic.ID)
	}
	if strings.Join(ids, ",") != "startup,cpu,memory,network,http,density" {
		t.Fatalf("panels %v, want the six questions", ids)
	}
	for _, p := range panels {
		if p.Reference != "runc" {
			t.Errorf("%s: reference %q, want the run's baseline runc", p.Topic.ID, p.Reference)
		}
		if len(p.Sentences) < 2 || len(p.Sentences) > 3 {
			t.Errorf("%s: %d sentences, want 2 or 3", p.Topic.ID, len(p.Sentences))
		}
		claimed := map[string]bool{}
		for _, s := range p.Sentences {
			if s.Kind != SentenceDifference {
				continue
			}
			rt := s.Runtimes[0]
			claimed[rt] = true
			c, ok := p.Comparisons[rt]
			if !ok || !c.Significant || !c.Shift.CI.OK || c.ChangeCI.Lo*c.ChangeCI.Hi <= 0 {
				t.Errorf("%s: %q claims a difference the comparison does not support: %+v", p.Topic.ID, s.Text, c)
			}
			if !regexp.MustCompile(`\[[-0-9.]+%?, [-0-9.]+%?\]`).MatchString(s.Text) {
				t.Errorf("%s: %q has no interval", p.Topic.ID, s.Text)
			}
		}
		if claimed["crun"] {
			t.Errorf("%s: a difference between crun and runc is claimed, but they were measured alike", p.Topic.ID)
		}
		if !claimed["runsc"] {
			t.Errorf("%s: runsc (2.4 times runc) has no difference sentence: %+v", p.Topic.ID, p.Sentences)
		}
	}
	// The sentence words follow the metric's direction.
	byID := map[string]Panel{}
	for _, p := range panels {
		byID[p.Topic.ID] = p
	}
	for id, want := range map[string]string{
		"startup": `^runsc runs a container from create to delete in 7\d\.\d ms \[[0-9.]+, [0-9.]+\], 2\.\d+ times as long as runc \[`,
		"network": `^runsc moves [0-9.]+ Gbit/s \[[0-9.]+, [0-9.]+\], 4\d% of runc's TCP throughput \[4\d%, 4\d%\]\.$`,
		"density": `^host needs [0-9.]+ MiB \[[0-9.]+, [0-9.]+\], 5\d% less than runc \[`,
	} {
		found := false
		for _, s := range byID[id].Sentences {
			found = found || regexp.MustCompile(want).MatchString(s.Text)
		}
		if !found {
			t.Errorf("%s: no sentence matches %s: %+v", id, want, byID[id].Sentences)
		}
	}

	few := thesisReport(t, 3)
	for _, p := range few.Analysis.Panels {
		var kinds []string
		for _, s := range p.Sentences {
			kinds = append(kinds, s.Kind)
		}
		if slices.Contains(kinds, SentenceDifference) {
			t.Errorf("%s with 3 trials claims a difference: %+v", p.Topic.ID, p.Sentences)
		}
		if !slices.Contains(kinds, SentenceTooFew) {
			t.Errorf("%s with 3 trials does not say that 3 trials cannot tell: %+v", p.Topic.ID, p.Sentences)
		}
		// The trials it asks for are those the comparison says could tell.
		for _, s := range p.Sentences {
			if s.Kind != SentenceTooFew {
				continue
			}
			m := regexp.MustCompile(`--trials (\d+)\.$`).FindStringSubmatch(s.Text)
			c := p.Comparisons[s.Runtimes[0]]
			if m == nil || m[1] != strconv.Itoa(c.TrialsNeeded) || c.TrialsNeeded <= 3 {
				t.Errorf("%s: %q does not ask for the %d trials the comparison needs", p.Topic.ID, s.Text, c.TrialsNeeded)
			}
		}
	}
	// Noise is not judged on three samples.
	for _, w := range few.Analysis.Warnings {
		if strings.Contains(w, "vary by more") {
			t.Errorf("3-trial run warned about noise: %s", w)
		}
	}
}

// measureScript reports where the first screen's parts are laid out, into the DOM.
const measureScript = `<script>
window.addEventListener('load', () => {
  const items = [];
  document.querySelectorAll('[data-panel], .panel li, .panel img').forEach(e => {
    const r = e.getBoundingClientRect();
    items.push({tag: e.tagName, key: e.dataset.panel || e.dataset.kind || '', text: e.textContent,
      bottom: r.bottom, right: r.right, width: r.width, height: r.height, loaded: e.tagName != 'IMG' || e.naturalWidth > 0});
  });
  const pre = document.createElement('pre');
  pre.id = 'measure';
  pre.textContent = JSON.stringify(items);
  document.body.appendChild(pre);
});
</script>`

type laidOut struct {
	Tag, Key, Text               string
	Bottom, Right, Width, Height float64
	Loaded                       bool
}

// firstScreen opens the page in headless Chromium at 1280x800 and returns where its
// panels, charts and sentences are.
func firstScreen(t *testing.T, html string) []laidOut {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium) so the page cannot be opened")
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	measured := filepath.Join(filepath.Dir(html), "measured.html")
	if err := os.WriteFile(measured, []byte(strings.Replace(string(page), "</body>", measureScript+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--window-size=1280,800", "--dump-dom", "file://"+measured).Output()
	if err != nil {
		t.Fatalf("chromium dump-dom: %v", err)
	}
	m := regexp.MustCompile(`<pre id="measure">(.*?)</pre>`).FindSubmatch(dom)
	if m == nil {
		t.Fatal("the measuring script did not run")
	}
	var items []laidOut
	if err := json.Unmarshal([]byte(strings.NewReplacer("&quot;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(string(m[1]))), &items); err != nil {
		t.Fatalf("measurements: %v", err)
	}
	return items
}

func TestFirstScreenInHeadlessChromium(t *testing.T) {
	sum := thesisReport(t, 30)
	items := firstScreen(t, sum.HTML)
	panels, sentences, charts := 0, 0, 0
	for _, it := range items {
		switch it.Tag {
		case "SECTION":
			panels++
		case "LI":
			sentences++
		case "IMG":
			charts++
			if !it.Loaded || it.Width < 300 || it.Height < 150 {
				t.Errorf("chart %+v is not shown at a readable size", it)
			}
		}
		if it.Bottom > 800 || it.Right > 1280 {
			t.Errorf("%s %s %.40q ends at (%.0f, %.0f), outside the first 1280x800 screen", it.Tag, it.Key, it.Text, it.Right, it.Bottom)
		}
	}
	if panels != 6 || charts != 6 || sentences < 12 {
		t.Errorf("first screen: %d panels, %d charts, %d sentences; want 6, 6 and at least 12", panels, charts, sentences)
	}
	var diffs []string
	for _, it := range items {
		if it.Key == SentenceDifference {
			diffs = append(diffs, it.Text)
		}
	}
	if !slices.ContainsFunc(diffs, func(s string) bool { return strings.HasPrefix(s, "runsc runs a container") }) {
		t.Errorf("the page's difference sentences lack runsc's start-up: %q", diffs)
	}
	for _, d := range diffs {
		if strings.HasPrefix(d, "crun") {
			t.Errorf("the page claims a crun difference: %q", d)
		}
	}

	// The quick start's nine runtimes fit the same screen.
	dir := writeFixture(t, fixture.QuickStart("beta", 2, 10))
	qs, err := Write(context.Background(), []string{dir}, filepath.Join(t.TempDir(), "report"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range firstScreen(t, qs.HTML) {
		if it.Bottom > 800 || it.Right > 1280 {
			t.Errorf("quick start: %s %s %.40q ends at (%.0f, %.0f), outside the first 1280x800 screen", it.Tag, it.Key, it.Text, it.Right, it.Bottom)
		}
	}

	// Three trials: the page says so instead of claiming anything.
	few := thesisReport(t, 3)
	for _, it := range firstScreen(t, few.HTML) {
		if it.Key == SentenceDifference {
			t.Errorf("3 trials: the page claims %q", it.Text)
		}
	}
}

// The density chart: ticks at the measured n, at least five y ticks, and runtimes
// measured alike drawn apart (own dashes and glyphs, moved along x).
func TestDensityChartReadable(t *testing.T) {
	sum := thesisReport(t, 30)
	var p Panel
	for _, q := range sum.Analysis.Panels {
		if q.Topic.ID == "density" {
			p = q
		}
	}
	fig, err := sum.Analysis.densityFigure(p)
	if err != nil {
		t.Fatal(err)
	}
	var xs []string
	for _, tk := range fig.Plot.X.Tick.Marker.Ticks(fig.Plot.X.Min, fig.Plot.X.Max) {
		if tk.Label != "" {
			xs = append(xs, tk.Label)
		}
	}
	if strings.Join(xs, " ") != "1 5 10" {
		t.Errorf("x ticks %v, want the measured n 1 5 10", xs)
	}
	major := 0
	for _, tk := range fig.Plot.Y.Tick.Marker.Ticks(fig.Plot.Y.Min, fig.Plot.Y.Max) {
		if tk.Label != "" {
			major++
		}
	}
	if major < 5 {
		t.Errorf("%d labelled y ticks in [%g, %g], want at least 5", major, fig.Plot.Y.Min, fig.Plot.Y.Max)
	}
	runc, crun := RuntimeStyle("runc", "container", false), RuntimeStyle("crun", "container", false)
	if runc.Color == crun.Color || slices.Equal(runc.Dashes, crun.Dashes) || runc.Glyph == crun.Glyph {
		t.Errorf("runc and crun are drawn alike: %+v %+v", runc, crun)
	}
	if !fig.LegendBelow {
		t.Error("the density legend is not below the plot")
	}
	// The legend lists every runtime, the emulated one with its off-scale range.
	var labels []string
	for _, e := range fig.Legend {
		labels = append(labels, e.Label)
	}
	if !slices.Contains(labels, "crun") || !slices.Contains(labels, "runc (reference)") || !slices.ContainsFunc(labels, func(s string) bool { return strings.Contains(s, "off the scale") }) {
		t.Errorf("legend %q", labels)
	}
}

// Colours are stable: by class hue, the same for a runtime name in every chart and run.
func TestRuntimeColoursStable(t *testing.T) {
	a, b := RuntimeStyle("my-runc-build", "container", false), RuntimeStyle("my-runc-build", "container", false)
	if a.Color != b.Color || !slices.Equal(a.Dashes, b.Dashes) {
		t.Errorf("one name, two styles")
	}
	greenish := func(s Style) bool {
		r, g, bl, _ := s.Color.RGBA()
		return g > r && g >= bl
	}
	for _, name := range []string{"runc", "crun", "docker-runc", "podman-crun", "my-runc-build"} {
		if !greenish(RuntimeStyle(name, "container", false)) {
			t.Errorf("container %s is not in the green family", name)
		}
	}
	if e := RuntimeStyle("qemu-microvm", "vm", true); !e.Emulated || e.Color == RuntimeStyle("qemu-microvm", "vm", false).Color {
		t.Errorf("emulated style not set apart")
	}
}

func TestNiceTicks(t *testing.T) {
	labels := func(lo, hi float64) string {
		var out []string
		for _, tk := range (NiceTicks{N: 6}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 15.3, "0.0 2.5 5.0 7.5 10.0 12.5 15.0"},
		{0, 250, "0 50 100 150 200 250"},
		{0.2, 0.9, "0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9"},
	} {
		if got := labels(c.lo, c.hi); got != c.want {
			t.Errorf("ticks of [%g, %g] = %q, want %q", c.lo, c.hi, got, c.want)
		}
	}
}

// An emulated VM forty times slower does not squash the real runtimes' bars: it is cut
// at the axis with its value written.
func TestRelativeChartCutsEmulatedOutlier(t *testing.T) {
	p := Panel{Topic: topics[3], Reference: "runc", Unit: "ms", Better: "lower",
		Rows: []Row{{Runtime: "runc", Class: "container"}, {Runtime: "runsc", Class: "sandbox"}, {Runtime: "qemu", Class: "vm", Emulated: true}},
		Comparisons: map[string]compare.Row{
			"runsc": {Change: 1.5, ChangeCI: stats.Interval{Lo: 1.4, Hi: 1.6}},
			"qemu":  {Change: 39, ChangeCI: stats.Interval{Lo: 38, Hi: 40}},
		}}
	fig, err := relativeFigure(p)
	if err != nil {
		t.Fatal(err)
	}
	if max := fig.Plot.X.Max; max > 400 || max < 260 {
		t.Errorf("axis ends at %g%%, want just beyond runsc's 260%%", max)
	}
	if _, err := RenderFigure(fig, "", "cut"); err != nil {
		t.Fatal(err)
	}
}

// A VM's boot phases are marked inside its start-up bar.
func TestStartupBarMarksVMBootPhases(t *testing.T) {
	spec := fixture.Thesis("alpha", 3, 10)
	for i := range spec.Runtimes {
		if spec.Runtimes[i].Class == "vm" {
			spec.Runtimes[i].Emulated, spec.Runtimes[i].Factor = false, 3
		}
	}
	for _, ph := range []struct {
		name string
		at   float64
	}{{"phase_vmm_started", 1}, {"phase_kernel_start", 2}, {"phase_init_reached", 4}, {"phase_workload_started", 5}} {
		spec.Metrics = append(spec.Metrics, fixture.Metric{Benchmark: "startup", Name: ph.name, Unit: "ms", Better: "lower",
			Base: ph.at, Spread: 0.01, Only: []string{"qemu-microvm"}})
	}
	dir := writeFixture(t, spec)
	a, err := Load(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var p Panel
	for _, q := range a.Panels {
		if q.Topic.ID == "startup" {
			p = q
		}
	}
	fig, err := a.startupFigure(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(fig.Legend, func(e LegendEntry) bool { return strings.HasPrefix(e.Label, "VM boot") }) {
		t.Errorf("no VM boot phases in the start-up chart's legend: %+v", fig.Legend)
	}
}

// A level's interval stops at zero: no "-6% of host's request rate".
func TestRelativeIntervalNotBelowZero(t *testing.T) {
	p := Panel{Topic: topics[4], Reference: "host", Unit: "req/s", Better: "higher"}
	got := relativeText(p, compare.Row{Change: -0.9, ChangeCI: stats.Interval{Lo: -1.06, Hi: -0.72}}, "host")
	if got != "10% of host's request rate [0%, 28%]" {
		t.Errorf("got %q", got)
	}
}
