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

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/hostcpu"
	"github.com/isobench/isobench/internal/httpload"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "http"

// Metric names.
const (
	MetricTimeToFirst200    = "time_to_first_200"
	MetricRequestsPerSecond = "requests_per_second"
	MetricLatencyP50        = "latency_p50"
	MetricLatencyP90        = "latency_p90"
	MetricLatencyP99        = "latency_p99"
)

// Parameters of the samples.
const (
	ParamFile = "file"
	// InfoStack names, in Trial.Info, the network stack that served the samples.
	InfoStack = "stack"
)

// Settings keys (config file: benchmarks: http: {...}).
const (
	SettingConcurrency    = "concurrency"
	SettingDuration       = "duration"
	SettingMaxRequests    = "max_requests"
	SettingStartupTimeout = "startup_timeout"
)

// Settings are the benchmark's settings.
type Settings struct {
	// Concurrency is the number of requests kept in flight, each on its own keep-alive
	// connection; a new request goes out as soon as one is answered.
	Concurrency int `yaml:"concurrency"`
	// Duration is how long each file is requested.
	Duration bench.Duration `yaml:"duration"`
	// MaxRequests bounds the requests per file, whatever the duration.
	MaxRequests int `yaml:"max_requests"`
	// StartupTimeout bounds the wait for the first 200 response.
	StartupTimeout bench.Duration `yaml:"startup_timeout"`
}

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Concurrency: 16, Duration: bench.Duration(10 * time.Second), MaxRequests: 5_000_000,
		StartupTimeout: bench.Duration(60 * time.Second)}
	if quick {
		s.Concurrency, s.Duration = 8, bench.Duration(2*time.Second)
	}
	return s
}

// Validate refuses settings that cannot load a server.
func (s Settings) Validate() error {
	if s.Concurrency < 1 || s.Duration <= 0 || s.MaxRequests < 1 || s.StartupTimeout <= 0 {
		return fmt.Errorf("settings %s, %s, %s and %s must be positive",
			SettingConcurrency, SettingDuration, SettingMaxRequests, SettingStartupTimeout)
	}
	return nil
}

// File is one document the server serves.
type File struct {
	// Label is the file parameter of its samples.
	Label string
	Name  string
	Size  int
}

// Files are the documents each trial requests, in order.
var Files = []File{
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
		{Name: MetricRequestsPerSecond, Unit: "req/s", Better: results.Higher, Description: "successful responses per second at fixed concurrency"},
		{Name: MetricLatencyP50, Unit: "ms", Better: results.Lower, Description: "median request latency, until the whole body arrived"},
		{Name: MetricLatencyP90, Unit: "ms", Better: results.Lower, Description: "90th percentile request latency"},
		{Name: MetricLatencyP99, Unit: "ms", Better: results.Lower, Description: "99th percentile request latency"},
		bench.CPUCostMetric(bench.MetricHostCPUPer1kRequests, "1k req"),
	}
}

func (Benchmark) Tools() []string { return []string{"sh", "apache2"} }

type settings struct {
	concurrency    int
	duration       time.Duration
	maxRequests    int
	startupTimeout time.Duration
}

func readSettings(t *bench.Trial) (settings, error) {
	cfg := Benchmark{}.DefaultSettings(t.Quick).(*Settings)
	if err := t.Settings.Decode(cfg); err != nil {
		return settings{}, err
	}
	return settings{concurrency: cfg.Concurrency, duration: cfg.Duration.D(), maxRequests: cfg.MaxRequests,
		startupTimeout: cfg.StartupTimeout.D()}, nil
}

// Run starts apache2 in a container, times it until it serves, then loads it with each file.
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

	stdout, err := os.Create(filepath.Join(t.RawDir, "apache2.stdout"))
	if err != nil {
		return fmt.Errorf("keeping raw output: %w", err)
	}
	defer stdout.Close()
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

	started, netInfo, err := c.Launch(ctx, cfg.startupTimeout)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(netInfo.ContainerIP, strconv.Itoa(port))
	baseURL := "http://" + addr + "/"
	firstOK, err := httpload.WaitFor200(ctx, baseURL+Files[0].Name, started, cfg.startupTimeout)
	if err != nil {
		return failed("waiting for apache2's first 200 response", err)
	}
	t.Logf("http %s: apache2 at %s served after %s (stack %s)", t.Runtime, addr, firstOK.Round(time.Millisecond), netInfo.Stack)

	type measured struct {
		file File
		m    *vegeta.Metrics
		cpu  hostcpu.Usage
		ok   bool
	}
	var loads []measured
	for _, f := range Files {
		cpu := bench.StartCPU(ctx, t, c, "loading "+f.Name)
		m, err := httpload.Attack(ctx, baseURL+f.Name, f.Size, httpload.Options{
			Concurrency: cfg.concurrency, Duration: cfg.duration, MaxRequests: cfg.maxRequests})
		if m != nil {
			if werr := httpload.WriteReport(filepath.Join(t.RawDir, "vegeta-"+f.Label+".json"), m); werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			return failed("loading "+f.Name, err)
		}
		usage, ok := cpu.Stop(ctx)
		loads = append(loads, measured{f, m, usage, ok})
	}

	if t.Info != nil {
		t.Info[InfoStack] = netInfo.Stack
	}
	t.Emit(MetricTimeToFirst200, ms(firstOK), nil)
	for _, l := range loads {
		p := map[string]string{ParamFile: l.file.Label}
		t.Emit(MetricRequestsPerSecond, l.m.Throughput, p)
		t.Emit(MetricLatencyP50, ms(l.m.Latencies.P50), p)
		t.Emit(MetricLatencyP90, ms(l.m.Latencies.P90), p)
		t.Emit(MetricLatencyP99, ms(l.m.Latencies.P99), p)
		bench.EmitCPUCost(t, bench.MetricHostCPUPer1kRequests, l.cpu, l.ok, float64(l.m.Requests)*l.m.Success/1000, p)
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
	dir, err := os.MkdirTemp("", runtime.NamePrefix+"http-")
	if err != nil {
		return "", fmt.Errorf("making the site directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	www := filepath.Join(dir, "www")
	// apache2 reads as www-data: the tree must be world-readable.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("making the site directory: %w", err)
	}
	if err := os.Mkdir(www, 0o755); err != nil {
		return "", fmt.Errorf("making the site directory: %w", err)
	}
	for _, f := range Files {
		if err := os.WriteFile(filepath.Join(www, f.Name), Content(f.Size), 0o644); err != nil {
			return "", fmt.Errorf("writing %s: %w", f.Name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ports.conf"), nil, 0o644); err != nil {
		return "", fmt.Errorf("writing ports.conf: %w", err)
	}
	ok = true
	return dir, nil
}

// Content is the document of size bytes every trial serves.
func Content(size int) []byte { return httpload.Content(size) }

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
