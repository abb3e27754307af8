// Package http measures a web server under each runtime: apache2 from the image, in its
// default configuration, serves a 4 KiB page and a 100 KiB file to a load generator on the
// host (vegeta's library) at a fixed concurrency. It reports requests per second, latency
// percentiles, and the time from the container's start until the first 200 response.
package http

import (
	"context"
	"fmt"
	"net"
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
const Name = "http"

// MetricTimeToFirst200 is the time from the container's start until apache2 answered;
// the load's metrics are httpload's.
const MetricTimeToFirst200 = "time_to_first_200"

// Settings are the benchmark's settings (config file: benchmarks: http: {...});
// ready_timeout bounds the wait for the first 200 response.
type Settings = httpload.Settings

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := httpload.DefaultSettings(quick)
	return &s
}

// Files are the documents each trial requests, in order.
var Files = []httpload.File{
	{Label: "4KiB", Name: "page-4KiB.html", Size: 4 << 10},
	{Label: "100KiB", Name: "file-100KiB.bin", Size: 100 << 10},
}

// Where the trial's documents and listener configuration appear in the container.
const (
	docRoot   = "/var/www/isobench"
	portsConf = "/etc/apache2/ports.conf"
)

// serverScript starts apache2 in the foreground the way Debian's init script prepares it.
// /var/lock links to /run/lock, which a fresh tmpfs on /run (as engines mount it) lacks.
const serverScript = `. /etc/apache2/envvars && mkdir -p /run/lock "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR" && exec /usr/sbin/apache2 -DFOREGROUND`

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "apache2 serving a 4 KiB page and a 100 KiB file at fixed concurrency: requests/s, latency p50/p90/p99 (ms), start to first 200 (ms)"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{
		{Name: MetricTimeToFirst200, Unit: "ms", Better: results.Lower, Description: "from the runtime's start call until apache2 answered 200"},
		{Name: httpload.MetricRequestsPerSecond, Unit: "req/s", Better: results.Higher, Description: "successful responses per second at fixed concurrency"},
		{Name: httpload.MetricLatencyP50, Unit: "ms", Better: results.Lower, Description: "median request latency, until the whole body arrived"},
		{Name: httpload.MetricLatencyP90, Unit: "ms", Better: results.Lower, Description: "90th percentile request latency"},
		{Name: httpload.MetricLatencyP99, Unit: "ms", Better: results.Lower, Description: "99th percentile request latency"},
		bench.CPUCostMetric(bench.MetricHostCPUPer1kRequests, "1k req"),
	}
}

func (Benchmark) Tools() []string { return []string{"sh", "apache2"} }

// Run starts apache2 in a container, times it until it serves, then loads it with each file.
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

	stdout, err := os.Create(filepath.Join(t.RawDir, "apache2.stdout"))
	if err != nil {
		return fmt.Errorf("keeping raw output: %w", err)
	}
	defer func() {
		if cerr := stdout.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("keeping raw output: %w", cerr)
		}
	}()
	c, err := bench.NewServerContainer(ctx, t, "apache2", runtime.Spec{
		Args: []string{"/bin/sh", "-c", serverScript},
		Mounts: []runtime.Mount{
			{Type: "bind", Source: filepath.Join(dir, "www"), Destination: docRoot, ReadOnly: true},
			{Type: "bind", Source: filepath.Join(dir, "ports.conf"), Destination: portsConf, ReadOnly: true},
		},
	}, stdout, &bench.FirstByteBuffer{})
	if err != nil {
		return err
	}
	defer c.Remove(ctx, &err)
	failed := c.Failed
	// apache2 listens on the container's address when it is known now; otherwise (engines
	// assign it at start) on every address of the container's own namespace.
	listen := strconv.Itoa(port)
	if ip := c.Network().ContainerIP; ip != "" {
		listen = net.JoinHostPort(ip, listen)
	}
	// The bind mount shows the file's new contents because it is rewritten in place.
	if err := os.WriteFile(filepath.Join(dir, "ports.conf"), []byte(apacheConf(listen)), 0o644); err != nil {
		return fmt.Errorf("writing apache2's listener configuration: %w", err)
	}

	started, netInfo, err := c.Launch(ctx, cfg.ReadyTimeout.D())
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(netInfo.ContainerIP, strconv.Itoa(port))
	baseURL := "http://" + addr + "/"
	firstOK, err := httpload.WaitFor200(ctx, baseURL+Files[0].Name, started, cfg.ReadyTimeout.D())
	if err != nil {
		return failed("waiting for apache2's first 200 response", err)
	}
	t.Logf("http %s: apache2 at %s served after %s (stack %s)", t.Runtime, addr, firstOK.Round(time.Millisecond), netInfo.Stack)

	loads, err := httpload.LoadEach(ctx, t, c, baseURL, Files, cfg.Options())
	if err != nil {
		return err
	}

	t.SetInfo(bench.InfoStack, netInfo.Stack)
	t.Emit(MetricTimeToFirst200, ms(firstOK), nil)
	for _, l := range loads {
		p := map[string]string{httpload.ParamFile: l.File.Label}
		t.Emit(httpload.MetricRequestsPerSecond, l.Metrics.Throughput, p)
		t.Emit(httpload.MetricLatencyP50, ms(l.Metrics.Latencies.P50), p)
		t.Emit(httpload.MetricLatencyP90, ms(l.Metrics.Latencies.P90), p)
		t.Emit(httpload.MetricLatencyP99, ms(l.Metrics.Latencies.P99), p)
		bench.EmitCPUCost(t, bench.MetricHostCPUPer1kRequests, l.CPU, l.CPUOK, l.Succeeded()/1000, p)
	}
	return nil
}

// apacheConf replaces Debian's ports.conf: one listener on the container's address (on
// the host driver, the host's loopback only) and a virtual host serving the trial's files.
func apacheConf(addr string) string {
	vhost := addr
	if !strings.Contains(addr, ":") {
		vhost = "*:" + addr // a port alone: every address
	}
	return fmt.Sprintf(`# isobench http benchmark: replaces ports.conf (Listen 80)
Listen %[1]s
ServerName isobench
<VirtualHost %[3]s>
	DocumentRoot %[2]s
	ErrorLog /dev/stderr
</VirtualHost>
`, addr, docRoot, vhost)
}

// makeSite makes a temporary directory with the documents under www/ and an empty
// ports.conf, which must exist before the container is made (the host driver binds it then).
func makeSite() (string, error) {
	dir, err := httpload.NewSite(Name, Files)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "ports.conf"), nil, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("writing ports.conf: %w", err)
	}
	return dir, nil
}

// Content is the document of size bytes every trial serves.
func Content(size int) []byte { return httpload.Content(size) }

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
