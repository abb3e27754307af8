package report

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/report/fixture"
	"github.com/isobench/isobench/internal/safefile"
)

func precious(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(p, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func assertPrecious(t *testing.T, p string) {
	t.Helper()
	if b, err := os.ReadFile(p); err != nil || string(b) != "precious" {
		t.Errorf("%s was written through a planted symlink: %q, %v", p, b, err)
	}
}

// A received run directory may hold symlinks where the report goes: report writes must
// replace them or refuse, never write through them.
func TestReportNeverWritesThroughPlantedSymlinks(t *testing.T) {
	run := writeFixture(t, fixture.Default("alpha", 1))
	target := precious(t)
	out := filepath.Join(run, "report")
	if err := os.MkdirAll(filepath.Join(out, ChartsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Chart names are known: a first report shows them.
	first, err := Write(context.Background(), []string{run}, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	planted := []string{HTMLFile, HTMLFile + ".tmp", CSVFile, CSVFile + ".tmp", MarkdownFile, MarkdownFile + ".tmp"}
	for _, c := range first.Charts {
		planted = append(planted, filepath.Join(ChartsDir, filepath.Base(c)), filepath.Join(ChartsDir, filepath.Base(c)+".tmp"))
	}
	for _, p := range planted {
		if err := os.Symlink(target, filepath.Join(out, p)); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := Write(context.Background(), []string{run}, out, Options{})
	if err != nil {
		t.Fatalf("report over planted symlinks: %v", err)
	}
	assertPrecious(t, target)
	for _, p := range append([]string{sum.HTML, sum.CSV, sum.Markdown}, sum.Charts...) {
		if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s is not a regular file of the report: %v", p, err)
		}
	}
}

func TestReportRefusesASymlinkedReportDirectory(t *testing.T) {
	for _, link := range []string{"report", filepath.Join("report", ChartsDir)} {
		t.Run(link, func(t *testing.T) {
			run := writeFixture(t, fixture.Default("alpha", 1))
			elsewhere := t.TempDir()
			if err := os.MkdirAll(filepath.Dir(filepath.Join(run, link)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, filepath.Join(run, link)); err != nil {
				t.Fatal(err)
			}
			_, err := Write(context.Background(), []string{run}, filepath.Join(run, "report"), Options{})
			if !errors.Is(err, safefile.ErrSymlink) || !strings.Contains(err.Error(), link) {
				t.Errorf("err = %v, want a refusal of the symlink at %s", err, link)
			}
			if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
				t.Errorf("written through the symlink: %v", entries)
			}
		})
	}
}

// --title is the user's text, shown as text: in Markdown it must not start new blocks,
// links or HTML, in the HTML page it must not become markup.
func TestTitleIsEscaped(t *testing.T) {
	run := writeFixture(t, fixture.Default("alpha", 1))
	title := "Q3 | *bold* `code`\n# injected heading\n<script>alert(1)</script> [click](javascript:alert(1)) ![img](x.png)"
	a, err := Load(context.Background(), []string{run}, Options{Title: title})
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	if err := Markdown(&md, a); err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(md.String(), "\n")
	if !strings.HasPrefix(first, "# Q3 ") || strings.Contains(rest, "# injected") {
		t.Errorf("title broke out of its heading line: %q", first)
	}
	for _, raw := range []string{"<script>", "[click](", "![img]", "*bold*", "`code`", "| *"} {
		if strings.Contains(md.String(), raw) {
			t.Errorf("Markdown holds %q unescaped:\n%s", raw, first)
		}
	}
	var page strings.Builder
	if err := HTML(&page, a, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script>alert(1)</script>") {
		t.Error("HTML page holds the title's markup unescaped")
	}
}

// Names in a run directory become chart file names: none may lead out of charts/.
func TestNamesFromARunStayInTheReport(t *testing.T) {
	spec := fixture.Default("alpha", 1)
	spec.Runtimes[1].Name = "../../escaped-runtime"
	spec.Metrics[0].Benchmark = "../../escaped-bench"
	spec.Metrics[0].Name = "/tmp/escaped-metric"
	run := writeFixture(t, spec)
	parent := t.TempDir()
	out := filepath.Join(parent, "a", "report")
	if _, err := Write(context.Background(), []string{run}, out, Options{}); err != nil {
		t.Fatal(err)
	}
	err := filepath.Walk(parent, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(out, p); strings.HasPrefix(rel, "..") && !info.IsDir() {
			t.Errorf("report wrote %s outside its directory", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/tmp/escaped-metric.svg"); err == nil {
		t.Error("a chart went to /tmp")
	}
}

// Names from a run directory are drawn into the charts, whose SVG the HTML page embeds:
// markup in them must stay text.
func TestMarkupInNamesStaysText(t *testing.T) {
	spec := fixture.Default("alpha", 1)
	spec.Runtimes[1].Name = `<script>alert("rt")</script>`
	spec.Metrics[0].Unit = `<img src=x onerror=alert(1)>`
	spec.Labels = map[string]string{"runc-commit": "1a2b3c", "note": `<script>alert("label")</script>`}
	run := writeFixture(t, spec)
	sum, err := Write(context.Background(), []string{run}, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{sum.HTML, sum.Markdown}, sum.Charts...) {
		if !strings.HasSuffix(p, ".html") && !strings.HasSuffix(p, ".md") && !strings.HasSuffix(p, ".svg") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range []string{`<script>alert("rt")`, `<img src=x onerror`, `<script>alert("label")`} {
			if strings.Contains(string(b), raw) {
				t.Errorf("%s holds %q as markup", filepath.Base(p), raw)
			}
		}
	}
	// The run's labels are shown with its environment, as text.
	page, err := os.ReadFile(sum.HTML)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "<td data-labels>note=&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt;, runc-commit=1a2b3c</td>") {
		t.Errorf("%s does not show the run's labels as text", sum.HTML)
	}
}
