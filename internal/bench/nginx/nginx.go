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

// latencies are the request latency percentiles the benchmark reports.
var latencies = []httpload.Percentile{httpload.P50, httpload.P99}

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

func (Benchmark) Metrics() []bench.Metric { return httpload.Metrics(latencies...) }

func (Benchmark) Tools() []string { return []string{"sh", "cat", "nginx"} }

// Run starts nginx in a container and loads it with each file.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) error {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	served, err := httpload.Serve(ctx, t, *cfg, httpload.Server{Name: "nginx", Files: Files, Spec: serverSpec})
	if err != nil {
		return err
	}
	served.Emit(t, latencies...)
	return nil
}

// serverSpec is nginx's container: the site's documents and its configuration directory
// conf/, where the configuration is written once the listen address is known.
func serverSpec(site string) (bench.ServerSpec, error) {
	conf := filepath.Join(site, "conf")
	if err := os.Mkdir(conf, 0o755); err != nil {
		return bench.ServerSpec{}, fmt.Errorf("making the configuration directory: %w", err)
	}
	return bench.ServerSpec{
		Script: fmt.Sprintf("exec nginx -c %s/nginx.conf", confDir),
		Mounts: []runtime.Mount{
			{Type: "bind", Source: filepath.Join(site, "www"), Destination: docRoot, ReadOnly: true},
			{Type: "bind", Source: conf, Destination: confDir, ReadOnly: true},
		},
		Configure: func(listen string, port int) error {
			return os.WriteFile(filepath.Join(conf, "nginx.conf"), []byte(Config(listen, port)), 0o644)
		},
	}, nil
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
