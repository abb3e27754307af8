package httpload

import (
	"context"
	"os"
	"path/filepath"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
)

// What every load reports: metric names, and the parameter naming the file loaded.
const (
	MetricRequestsPerSecond = "requests_per_second"
	MetricLatencyP50        = "latency_p50"
	MetricLatencyP90        = "latency_p90"
	MetricLatencyP99        = "latency_p99"
	ParamFile               = "file"
)

// Percentile is a request latency percentile a benchmark reports.
type Percentile struct {
	Metric, Description string
	of                  func(vegeta.LatencyMetrics) time.Duration
}

// The percentiles a benchmark may report.
var (
	P50 = Percentile{MetricLatencyP50, "median request latency, until the whole body arrived",
		func(l vegeta.LatencyMetrics) time.Duration { return l.P50 }}
	P90 = Percentile{MetricLatencyP90, "90th percentile request latency",
		func(l vegeta.LatencyMetrics) time.Duration { return l.P90 }}
	P99 = Percentile{MetricLatencyP99, "99th percentile request latency",
		func(l vegeta.LatencyMetrics) time.Duration { return l.P99 }}
)

// Metrics declares what Served.Emit records with these percentiles.
func Metrics(percentiles ...Percentile) []bench.Metric {
	m := []bench.Metric{{Name: MetricRequestsPerSecond, Unit: "req/s", Better: results.Higher, Description: "successful responses per second at fixed concurrency"}}
	for _, p := range percentiles {
		m = append(m, bench.Metric{Name: p.Metric, Unit: "ms", Better: results.Lower, Description: p.Description})
	}
	return append(m, bench.CPUCostMetric(bench.MetricHostCPUPer1kRequests, "1k req"))
}

// Load is what loading one file measured.
type Load struct {
	File    File
	Metrics *vegeta.Metrics
	// CPU is the host CPU the server's runtime took meanwhile.
	CPU bench.HostCPU
}

// Server is a web server a benchmark loads.
type Server struct {
	// Name names the server in errors, logs, raw output files and its site directory.
	Name string
	// Files are the documents it serves, loaded one after the other.
	Files []File
	// Spec describes the server's container (Name, Ready and ReadyTimeout are Serve's):
	// site is the directory holding the files under www/, where Spec may add the
	// server's configuration.
	Spec func(site string) (bench.ServerSpec, error)
}

// Served is what serving the load measured.
type Served struct {
	// FirstOK is the time from the runtime's start call until the first 200 response.
	FirstOK time.Duration
	Loads   []Load
}

// Emit records each load, the file's label as its ParamFile: requests per second, the
// latency at each percentile (ms), and the host CPU per 1,000 successful requests.
func (s *Served) Emit(t *bench.Trial, percentiles ...Percentile) {
	for _, l := range s.Loads {
		p := map[string]string{ParamFile: l.File.Label}
		t.Emit(MetricRequestsPerSecond, l.Metrics.Throughput, p)
		for _, pc := range percentiles {
			t.Emit(pc.Metric, Milliseconds(pc.of(l.Metrics.Latencies)), p)
		}
		succeeded := float64(l.Metrics.Requests) * l.Metrics.Success
		bench.EmitCPUCost(t, bench.MetricHostCPUPer1kRequests, l.CPU, succeeded/1000, p)
	}
}

// Milliseconds is d in ms, as the benchmarks report times.
func Milliseconds(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// Serve starts the server in a container of the trial's runtime, waits for its first 200
// response, loads each file, and removes the server and its site whatever happened.
func Serve(ctx context.Context, t *bench.Trial, s Settings, server Server) (_ *Served, err error) {
	site, err := NewSite(server.Name, server.Files)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(site)
	spec, err := server.Spec(site)
	if err != nil {
		return nil, err
	}
	spec.Name, spec.ReadyTimeout = server.Name, s.ReadyTimeout.D()
	spec.Ready = func(ctx context.Context, addr string) error {
		_, err := WaitFor200(ctx, "http://"+addr+"/"+server.Files[0].Name, time.Now(), s.ReadyTimeout.D())
		return err
	}
	srv, err := bench.StartServer(ctx, t, spec)
	defer srv.Remove(ctx, &err)
	if err != nil {
		return nil, err
	}
	loads, err := loadEach(ctx, t, srv.ServerContainer, "http://"+srv.Addr+"/", server.Files, s.Options())
	if err != nil {
		return nil, err
	}
	t.SetInfo(bench.InfoStack, srv.Net.Stack)
	return &Served{FirstOK: srv.Ready.Sub(srv.Started), Loads: loads}, nil
}

// loadEach loads each file from the server at baseURL in turn, metering the host CPU
// its runtime takes, and keeps vegeta's report of each in the trial's raw directory
// (vegeta-LABEL.json).
func loadEach(ctx context.Context, t *bench.Trial, srv *bench.ServerContainer, baseURL string, files []File, o Options) ([]Load, error) {
	var loads []Load
	for _, f := range files {
		cpu := bench.StartCPU(ctx, t, srv, "loading "+f.Name)
		m, err := Attack(ctx, baseURL+f.Name, f.Size, o)
		if m != nil {
			if werr := WriteReport(filepath.Join(t.RawDir, "vegeta-"+f.Label+".json"), m); werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			return nil, srv.Failed("loading "+f.Name, err)
		}
		loads = append(loads, Load{File: f, Metrics: m, CPU: cpu.Stop(ctx)})
	}
	return loads, nil
}
