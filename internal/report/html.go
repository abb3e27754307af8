package report

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"

	"github.com/isobench/isobench/internal/results"
)

// The page holds everything inline (styles, charts as data: URIs), so it opens offline
// and can be mailed as one file.
var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"svgURI": func(b []byte) template.URL {
		return template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(b))
	},
	"num":          num,
	"medianWithCI": medianWithCI,
	"medianCIText": medianCIText,
	"ratioText":    ratioText,
	"orDash":       orDash,
	"join":         func(s []string) string { return strings.Join(s, " ") },
	"pct":          func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"gib": func(b uint64) string {
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	},
	"options": formatKV,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:.6em auto;max-width:1250px;padding:0 1em;color:#222}
h1{font-size:1.35em;margin:.1em 0 .1em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em;font-size:1.25em}h3{margin-top:1.2em}
.context{color:#444;font-size:.88em;margin:0 0 .5em}
.panels{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:.5em 1.3em}
.panel h2{font-size:1.02em;margin:.2em 0 .1em;border:0;padding:0}.panel h2 .q{font-weight:normal;color:#555;font-size:.9em}
.panel img{width:100%;height:auto;display:block}
.panel ul{margin:.15em 0 0;padding-left:1.1em;font-size:12.5px;line-height:1.3}.panel li{margin:.1em 0}
li.no-difference,li.too-few{color:#555}
.alerts{font-size:.85em;color:#7a4a00;margin:.4em 0}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
.warn{background:#fff4e5;border-left:4px solid #e69500;padding:.6em 1em}.warn li{margin:.2em 0}
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figure img{max-width:100%;border:1px solid #eee}
details{margin:.3em 0}summary{cursor:pointer;font-weight:600}
.emulated{color:#a33}.note{color:#555;font-size:.9em}
</style></head><body>
<h1>{{.Title}}</h1>
{{range $i, $h := .Hosts}}{{if $h.Panels}}{{if $i}}<h2>Host {{$h.Host}}</h2>{{end}}
<p class="context">{{if not $i}}Host {{$h.Host}}{{if $h.Virtual}} (a VM){{end}} · {{end}}reference <b>{{$h.Baseline}}</b> · {{$h.Trials}} · a difference is stated only where the rank test finds one (5%, Holm) · [ ] are 95% intervals</p>
<div class="panels" data-host="{{$h.Host}}">
{{range $h.Panels}}<section class="panel" data-panel="{{.Topic.ID}}"><h2>{{.Topic.Title}} <span class="q">{{.Topic.Question}}{{if .Note}} ({{.Note}}){{end}}</span></h2>
<img src="{{svgURI .Chart.SVG}}" width="{{.Chart.Width}}" height="{{.Chart.Height}}" alt="{{.Chart.Title}}" data-chart="{{.Chart.ID}}" data-kind="panel">
<ul>{{range .Sentences}}<li class="{{.Kind}}" data-kind="{{.Kind}}" data-runtimes="{{join .Runtimes}}">{{.Text}}</li>{{end}}</ul></section>
{{end}}</div>{{end}}{{end}}
{{if .Alerts}}<p class="alerts" data-section="alerts">{{.Alerts}} <a href="#warnings">Details</a></p>{{end}}
<h2 id="details">Details for engineers</h2>
<p class="note">{{.Samples}} samples in {{len .Rows}} series from {{len .Hosts}} host(s).
Medians with distribution-free order-statistic intervals of at least 95% coverage (the actual coverage shown; "n too small" below 6 samples);
ratios are medians divided by the baseline's median, with the interval of the Mann-Whitney test on the logarithms ("n too small" when none reaches 95%); the first screen's relative levels are Hodges-Lehmann shifts over the reference's median with the interval of the same rank test (Wilcoxon signed-rank on the rounds of one interleaved run, else Mann-Whitney); percentiles use the numpy "linear" (R type 7) definition. Noisy: coefficient of variation above {{.NoisePct}}% with at least {{.MinNoiseN}} samples.</p>
{{if .Warnings}}<details id="warnings"><summary>Warnings ({{len .Warnings}})</summary><div class="warn"><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul></div></details>{{end}}
{{if .Engines}}<details id="engines"><summary>Engine overhead</summary>
<p class="note">Start-up through an engine minus the start-up of the same OCI runtime driven directly: what the engine itself adds (Hodges-Lehmann shift with the 95% interval of the Mann-Whitney test).</p>
<table data-section="engine-overhead"><tr><th>host</th><th>engine profile</th><th>OCI runtime</th><th>metric</th><th>through the engine</th><th>runtime directly</th><th>engine overhead [95% CI]</th><th>share of the engine's start-up</th></tr>
{{range .Engines}}<tr><td>{{.Host}}</td><td>{{.Engine}}</td><td>{{.Runtime}}</td><td>{{.Metric}}</td><td class="n">{{num .EngineMedian}} {{.Unit}}</td><td class="n">{{num .RuntimeMedian}} {{.Unit}}</td><td class="n">{{num .Overhead}} {{.Unit}} [{{num .CI.Lo}}, {{num .CI.Hi}}]</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table></details>{{end}}
{{range .Overviews}}<details><summary>Overview{{if $.MultiHost}}: {{.Host}}{{end}}: every metric relative to the baseline</summary>
<figure><img src="{{svgURI .SVG}}" alt="{{.Title}}" data-chart="{{.ID}}" data-kind="{{.Kind}}"></figure></details>{{end}}
{{range .Hosts}}<h3 id="host-{{.Host}}">Host {{.Host}} <span class="note">(baseline {{.Baseline}})</span></h3>
{{range .Benchmarks}}<details data-benchmark="{{.Name}}"><summary>{{.Name}} ({{len .Groups}} series group(s){{if .Noisy}}, {{.Noisy}} noisy{{end}})</summary>
{{range .Groups}}<h4>{{.Title}} <span class="note">({{.UnitNote}})</span></h4>
<table data-metric="{{.Metric}}"><tr><th>runtime</th><th>class</th><th>median ± 95% CI</th><th>95% CI</th><th>mean</th><th>stddev</th><th>p5</th><th>p95</th><th>p99</th><th>vs {{.Baseline}} [95% CI]</th><th>n</th><th>notes</th></tr>
{{range .Rows}}<tr{{if .Emulated}} class="emulated"{{end}}><td>{{.Runtime}}</td><td>{{orDash .Class}}</td><td class="n">{{medianWithCI .}}</td><td class="n">{{medianCIText .}}</td>
<td class="n">{{num .Summary.Mean}}</td><td class="n">{{num .Summary.StdDev}}</td><td class="n">{{num .Summary.P5}}</td><td class="n">{{num .Summary.P95}}</td><td class="n">{{num .Summary.P99}}</td>
<td class="n">{{ratioText .}}</td><td class="n">{{.Summary.N}}</td><td>{{.Notes}}</td></tr>
{{end}}</table>{{end}}
{{if .Charts}}<div class="charts">{{range .Charts}}<figure><img src="{{svgURI .SVG}}" alt="{{.Title}}" data-chart="{{.ID}}" data-kind="{{.Kind}}" data-metric="{{.Metric}}"></figure>{{end}}</div>{{end}}
</details>{{end}}
<details><summary>Environment of {{.Host}}</summary>
{{with .Env}}<table>
<tr><th>run</th><td>{{.RunID}} (started {{.Started.Format "2006-01-02 15:04:05 MST"}}{{if .Interrupted}}, interrupted{{end}})</td></tr>
<tr><th>host</th><td>{{.Host.Hostname}}: {{.Host.OS}}, kernel {{.Host.Kernel}}</td></tr>
<tr><th>CPU</th><td>{{.Host.CPUModel}}, {{.Host.Cores}} cores, SMT {{orDash .Host.SMT}}, governor {{orDash .Host.Governor}}</td></tr>
<tr><th>memory</th><td>{{gib .Host.MemoryBytes}}</td></tr>
<tr><th>virtualization</th><td>{{if .Host.Virtualized}}virtual machine ({{orDash .Host.Hypervisor}}), nested virtualization {{orDash .Host.NestedVirt}}{{else}}bare metal{{end}}; KVM {{orDash .Host.KVM}}</td></tr>
<tr><th>cgroups</th><td>{{.Host.CgroupMode}}</td></tr>
<tr><th>load at start</th><td>{{.Host.LoadAvg1}}</td></tr>
<tr><th>image</th><td>{{.Image.Name}} {{.Image.Digest}}</td></tr>
<tr><th>isobench</th><td>{{.Isobench.Version}} {{.Isobench.Commit}} {{.Isobench.Go}}</td></tr>
{{if .Labels}}<tr><th>labels</th><td data-labels>{{options .Labels}}</td></tr>{{end}}
</table>
<table><tr><th>runtime</th><th>class</th><th>driver</th><th>version</th><th>binary</th><th>options (platform, ...)</th></tr>
{{range $name, $rt := .Runtimes}}<tr{{if $rt.Emulated}} class="emulated"{{end}}><td>{{$name}}</td><td>{{$rt.Class}}</td><td>{{$rt.Driver}}</td><td>{{orDash $rt.Version}}</td><td>{{orDash $rt.Binary}}</td><td>{{options $rt.Options}}{{if $rt.Emulated}} emulated, not comparable{{end}}</td></tr>
{{end}}</table>
{{else}}<p class="note">No environment.json for this host.</p>{{end}}
<p class="note">Run directories: {{range .RunDirs}}{{.}} {{end}}</p></details>
{{end}}
</body></html>
`))

type htmlGroup struct {
	group
	Baseline string
	Title    string
	UnitNote string
}

type htmlBenchmark struct {
	Name   string
	Groups []htmlGroup
	Charts []Chart
	Noisy  int
}

type htmlPanel struct {
	Panel
	Chart Chart
}

type htmlHost struct {
	Host       string
	Baseline   string
	Env        *results.Environment
	RunDirs    []string
	Benchmarks []htmlBenchmark
	Panels     []htmlPanel
	Virtual    bool
	// Trials words the trials per runtime of the host's headline series.
	Trials string
}

type htmlPage struct {
	Title     string
	Samples   int
	Rows      []Row
	NoisePct  float64
	MinNoiseN int
	Warnings  []string
	// Alerts sums the warnings up in one line for the first screen.
	Alerts    string
	MultiHost bool
	Overviews []Chart
	Hosts     []htmlHost
	Engines   []EngineOverhead
}

// HTML writes the self-contained page; charts are those renderCharts made.
func HTML(w io.Writer, a *Analysis, charts []Chart) error {
	page := htmlPage{Title: a.title(), Samples: a.Samples, Rows: a.Rows,
		NoisePct: 100 * a.Options.noiseCV(), MinNoiseN: MinNoiseN, Warnings: a.Warnings, MultiHost: len(a.Hosts) > 1,
		Engines: a.engineOverheads(), Alerts: a.alerts()}
	for _, c := range charts {
		if c.Kind == ChartOverview {
			page.Overviews = append(page.Overviews, c)
		}
	}
	groups := a.groups()
	for _, h := range a.Hosts {
		hh := htmlHost{Host: h.Host, Baseline: h.Baseline, Env: h.Env, RunDirs: h.RunDirs, Virtual: h.Env != nil && h.Env.Host.Virtualized}
		var trials []int
		for _, p := range a.Panels {
			if p.Host != h.Host {
				continue
			}
			hp := htmlPanel{Panel: p}
			for _, c := range charts {
				if c.Kind == ChartPanel && c.Host == h.Host && c.Benchmark == p.Topic.Benchmark {
					hp.Chart = c
				}
			}
			hh.Panels = append(hh.Panels, hp)
			for _, r := range p.Rows {
				trials = append(trials, r.Summary.N)
			}
		}
		hh.Trials = trialsText(trials)
		for _, g := range groups {
			if g.Host != h.Host {
				continue
			}
			n := len(hh.Benchmarks)
			if n == 0 || hh.Benchmarks[n-1].Name != g.Benchmark {
				hh.Benchmarks = append(hh.Benchmarks, htmlBenchmark{Name: g.Benchmark})
				n++
			}
			hh.Benchmarks[n-1].Groups = append(hh.Benchmarks[n-1].Groups, htmlGroup{group: g, Baseline: h.Baseline, Title: g.title(), UnitNote: g.unitNote()})
			for _, r := range g.Rows {
				if r.Noisy {
					hh.Benchmarks[n-1].Noisy++
				}
			}
		}
		// The benchmarks in the order the first screen asks, the others after them.
		rank := func(name string) int {
			for i, t := range topics {
				if t.Benchmark == name {
					return i
				}
			}
			return len(topics)
		}
		sort.SliceStable(hh.Benchmarks, func(i, j int) bool { return rank(hh.Benchmarks[i].Name) < rank(hh.Benchmarks[j].Name) })
		for i := range hh.Benchmarks {
			for _, c := range charts {
				if c.Kind != ChartOverview && c.Kind != ChartPanel && c.Host == h.Host && c.Benchmark == hh.Benchmarks[i].Name {
					hh.Benchmarks[i].Charts = append(hh.Benchmarks[i].Charts, c)
				}
			}
		}
		page.Hosts = append(page.Hosts, hh)
	}
	if err := pageTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("writing html: %w", err)
	}
	return nil
}

// trialsText words the samples per series of the first screen: "8 trials per runtime"
// or "3 to 8 trials per runtime".
func trialsText(ns []int) string {
	if len(ns) == 0 {
		return "no trials"
	}
	lo, hi := ns[0], ns[0]
	for _, n := range ns {
		lo, hi = min(lo, n), max(hi, n)
	}
	if lo == hi {
		return fmt.Sprintf("%d trials per runtime", lo)
	}
	return fmt.Sprintf("%d to %d trials per runtime", lo, hi)
}
