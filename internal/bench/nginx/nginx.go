// Package nginx measures nginx serving static files under each runtime: nginx runs in a
// container of the runtime under test and isobench's load generator on the host requests
// a 4 KiB page and a 1 MiB file across the container's network at a fixed concurrency.
// It reports requests per second, latency p50/p99, and the host CPU the runtime took per
// 1,000 requests.
package nginx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/hostcpu"
	"github.com/isobench/isobench/internal/httpload"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "nginx"

// Metric names.
const (
	MetricRequestsPerSecond = "requests_per_second"
	MetricLatencyP50        = "latency_p50"
	MetricLatencyP99        = "latency_p99"
)

// Parameters of the samples.
const (
	ParamFile = "file"
	// InfoStack names, in Trial.Info, the network stack that served the samples.
	InfoStack = "stack"
)

// Settings are the benchmark's settings (config file: benchmarks: nginx: {...}).
type Settings struct {
	// Concurrency is the number of requests kept in flight, each on its own keep-alive
	// connection.
	Concurrency int `yaml:"concurrency"`
	// Duration is how long each file is requested.
	Duration bench.Duration `yaml:"duration"`
	// MaxRequests bounds the requests per file, whatever the duration.
	MaxRequests int `yaml:"max_requests"`
	// ReadyTimeout bounds the wait for the first 200 response.
	ReadyTimeout bench.Duration `yaml:"ready_timeout"`
}

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Concurrency: 16, Duration: bench.Duration(10 * time.Second), MaxRequests: 5_000_000,
		ReadyTimeout: bench.Duration(60 * time.Second)}
	if quick {
		s.Concurrency, s.Duration = 8, bench.Duration(3*time.Second)
	}
	return s
}

// Validate refuses settings that cannot load a server.
func (s Settings) Validate() error {
	if s.Concurrency < 1 || s.Duration <= 0 || s.MaxRequests < 1 || s.ReadyTimeout <= 0 {
		return errors.New("settings concurrency, duration, max_requests and ready_timeout must be positive")
	}
	if s.Concurrency > 10_000 {
		return fmt.Errorf("setting concurrency: %d connections is more than 10000", s.Concurrency)
	}
	return nil
}

// File is one document nginx serves.
type File struct {
	Label, Name string
	Size        int
}

// Files are the documents each trial requests, in order.
var Files = []File{
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
		{Name: MetricRequestsPerSecond, Unit: "req/s", Better: results.Higher, Description: "successful responses per second at fixed concurrency"},
		{Name: MetricLatencyP50, Unit: "ms", Better: results.Lower, Description: "median request latency, until the whole body arrived"},
		{Name: MetricLatencyP99, Unit: "ms", Better: results.Lower, Description: "99th percentile request latency"},
		bench.CPUCostMetric(bench.MetricHostCPUPer1kRequests, "1k req"),
	}
}

func (Benchmark) Tools() []string { return []string{"sh", "cat", "nginx"} }

type settings struct {
	load         httpload.Options
	readyTimeout time.Duration
}

func readSettings(t *bench.Trial) (settings, error) {
	cfg := Benchmark{}.DefaultSettings(t.Quick).(*Settings)
	if err := t.Settings.Decode(cfg); err != nil {
		return settings{}, err
	}
	return settings{
		load:         httpload.Options{Concurrency: cfg.Concurrency, Duration: cfg.Duration.D(), MaxRequests: cfg.MaxRequests},
		readyTimeout: cfg.ReadyTimeout.D(),
	}, nil
}

// Run starts nginx in a container and loads it with each file.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) (err error) {
	cfg, err := readSettings(t)
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
		ReadyTimeout: cfg.readyTimeout,
	})
	defer func() {
		if cerr := srv.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err != nil {
		return err
	}
	t.Logf("nginx %s: serving at %s after %s (stack %s)", t.Runtime, srv.Addr, srv.Ready.Sub(srv.Started).Round(time.Millisecond), srv.Net.Stack)

	type measured struct {
		file File
		m    *vegeta.Metrics
		cpu  hostcpu.Usage
		ok   bool
	}
	var loads []measured
	for _, f := range Files {
		cpu := bench.StartCPU(ctx, t, srv, "loading "+f.Name)
		m, err := httpload.Attack(ctx, "http://"+srv.Addr+"/"+f.Name, f.Size, cfg.load)
		if m != nil {
			if werr := httpload.WriteReport(filepath.Join(t.RawDir, "vegeta-"+f.Label+".json"), m); werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			return srv.Failed("loading "+f.Name, err)
		}
		usage, ok := cpu.Stop(ctx)
		loads = append(loads, measured{f, m, usage, ok})
	}

	if t.Warmup || t.Emit == nil {
		return nil
	}
	if t.Info != nil {
		t.Info[InfoStack] = srv.Net.Stack
	}
	for _, l := range loads {
		p := map[string]string{ParamFile: l.file.Label}
		t.Emit(MetricRequestsPerSecond, l.m.Throughput, p)
		t.Emit(MetricLatencyP50, ms(l.m.Latencies.P50), p)
		t.Emit(MetricLatencyP99, ms(l.m.Latencies.P99), p)
		done := float64(l.m.Requests) * l.m.Success
		bench.EmitCPUCost(t, bench.MetricHostCPUPer1kRequests, l.cpu, l.ok, done/1000, p)
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
// configuration directory conf/, both world-readable for nginx's workers.
func makeSite() (string, error) {
	dir, err := os.MkdirTemp("", runtime.NamePrefix+"nginx-")
	if err != nil {
		return "", fmt.Errorf("making the site directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("making the site directory: %w", err)
	}
	for _, sub := range []string{"www", "conf"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return "", fmt.Errorf("making the site directory: %w", err)
		}
	}
	for _, f := range Files {
		if err := os.WriteFile(filepath.Join(dir, "www", f.Name), httpload.Content(f.Size), 0o644); err != nil {
			return "", fmt.Errorf("writing %s: %w", f.Name, err)
		}
	}
	ok = true
	return dir, nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
