// Package nginx measures nginx serving static files under each runtime: nginx runs in a
// container of the runtime under test and isobench's load generator on the host requests
// a 4 KiB page and a 1 MiB file across the container's network at a fixed concurrency.
// It reports requests per second, latency p50/p99, and the host CPU the runtime took per
// 1,000 requests.
package nginx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/httpload"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "nginx"

// Settings are the benchmark's settings (config file: benchmarks: nginx: {...}).
type Settings = httpload.Settings

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := httpload.DefaultSettings(quick)
	if quick {
		s.Duration = bench.Duration(3 * time.Second)
	}
	return &s
}

// Files are the documents each trial requests, in order.
var Files = []httpload.File{
	{Label: "4KiB", Name: "page-4KiB.html", Size: 4 << 10},
	{Label: "1MiB", Name: "file-1MiB.bin", Size: 1 << 20},
}

// Where the trial's documents and configuration appear in the container.
const (
	docRoot = "/var/www/isobench"
	confDir = "/.isobench-nginx"
)

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "nginx in the runtime serving a 4 KiB page and a 1 MiB file to isobench's load generator on the host: requests/s, latency p50/p99 (ms), host CPU per 1,000 requests"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{
		{Name: httpload.MetricRequestsPerSecond, Unit: "req/s", Better: results.Higher, Description: "successful responses per second at fixed concurrency"},
		{Name: httpload.MetricLatencyP50, Unit: "ms", Better: results.Lower, Description: "median request latency, until the whole body arrived"},
		{Name: httpload.MetricLatencyP99, Unit: "ms", Better: results.Lower, Description: "99th percentile request latency"},
		bench.CPUCostMetric(bench.MetricHostCPUPer1kRequests, "1k req"),
	}
}

func (Benchmark) Tools() []string { return []string{"sh", "cat", "nginx"} }

// Run starts nginx in a container and loads it with each file.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) (err error) {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	ports, err := bench.FreeLoopbackPorts(1)
	if err != nil {
		return err
	}
	port := ports[0]
	dir, err := makeSite()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := bench.StartServer(ctx, t, bench.ServerSpec{
		Name:   "nginx",
		Port:   port,
		Script: fmt.Sprintf("exec nginx -c %s/nginx.conf", confDir),
		Mounts: []runtime.Mount{
			{Type: "bind", Source: filepath.Join(dir, "www"), Destination: docRoot, ReadOnly: true},
			{Type: "bind", Source: filepath.Join(dir, "conf"), Destination: confDir, ReadOnly: true},
		},
		Configure: func(listen string) error {
			return os.WriteFile(filepath.Join(dir, "conf", "nginx.conf"), []byte(Config(listen, port)), 0o644)
		},
		Ready: func(ctx context.Context, addr string) error {
			_, err := httpload.WaitFor200(ctx, "http://"+addr+"/"+Files[0].Name, time.Now(), time.Second)
			return err
		},
		ReadyTimeout: cfg.ReadyTimeout.D(),
	})
	defer srv.Remove(ctx, &err)
	if err != nil {
		return err
	}
	loads, err := httpload.LoadEach(ctx, t, srv.ServerContainer, "http://"+srv.Addr+"/", Files, cfg.Options())
	if err != nil {
		return err
	}

	t.SetInfo(bench.InfoStack, srv.Net.Stack)
	for _, l := range loads {
		p := map[string]string{httpload.ParamFile: l.File.Label}
		t.Emit(httpload.MetricRequestsPerSecond, l.Metrics.Throughput, p)
		t.Emit(httpload.MetricLatencyP50, ms(l.Metrics.Latencies.P50), p)
		t.Emit(httpload.MetricLatencyP99, ms(l.Metrics.Latencies.P99), p)
		bench.EmitCPUCost(t, bench.MetricHostCPUPer1kRequests, l.CPU, l.CPUOK, l.Succeeded()/1000, p)
	}
	return nil
}

// Config is nginx's whole configuration: one worker per CPU, no access log, the trial's
// documents on one listener. A listen address of 0.0.0.0 becomes the port alone.
func Config(listen string, port int) string {
	addr := strconv.Itoa(port)
	if listen != "0.0.0.0" {
		addr = listen + ":" + addr
	}
	return strings.ReplaceAll(`# isobench nginx benchmark
user www-data;
worker_processes auto;
daemon off;
master_process on;
pid /tmp/isobench-nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	keepalive_timeout 60s;
	client_body_temp_path /tmp/nginx-body;
	types { text/html html; application/octet-stream bin; }
	default_type application/octet-stream;
	server {
		listen ADDR;
		root `+docRoot+`;
	}
}
`, "ADDR", addr)
}

// makeSite makes a temporary directory with the documents under www/ and the
// configuration directory conf/.
func makeSite() (string, error) {
	dir, err := httpload.NewSite(Name, Files)
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(dir, "conf"), 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("making the site directory: %w", err)
	}
	return dir, nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
