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

// latencies are the request latency percentiles the benchmark reports.
var latencies = []httpload.Percentile{httpload.P50, httpload.P90, httpload.P99}

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
	return append([]bench.Metric{{Name: MetricTimeToFirst200, Unit: "ms", Better: results.Lower, Description: "from the runtime's start call until apache2 answered 200"}},
		httpload.Metrics(latencies...)...)
}

func (Benchmark) Tools() []string { return []string{"sh", "apache2"} }

// Run starts apache2 in a container, times it until it serves, then loads it with each file.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) error {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	served, err := httpload.Serve(ctx, t, *cfg, httpload.Server{Name: "apache2", Files: Files, Spec: serverSpec})
	if err != nil {
		return err
	}
	t.Emit(MetricTimeToFirst200, httpload.Milliseconds(served.FirstOK), nil)
	served.Emit(t, latencies...)
	return nil
}

// serverSpec is apache2's container: the site's documents, and a ports.conf that must
// exist before the container is made (the host driver binds it then) and is rewritten in
// place, which the bind mount shows, once the listen address is known.
func serverSpec(site string) (bench.ServerSpec, error) {
	ports := filepath.Join(site, "ports.conf")
	if err := os.WriteFile(ports, nil, 0o644); err != nil {
		return bench.ServerSpec{}, fmt.Errorf("writing ports.conf: %w", err)
	}
	return bench.ServerSpec{
		Script: serverScript,
		Mounts: []runtime.Mount{
			{Type: "bind", Source: filepath.Join(site, "www"), Destination: docRoot, ReadOnly: true},
			{Type: "bind", Source: ports, Destination: portsConf, ReadOnly: true},
		},
		// apache2 listens on the container's address when it is known before the start;
		// otherwise (engines assign it at start) on every address of the container's own
		// namespace.
		Configure: func(listen string, port int) error {
			addr := strconv.Itoa(port)
			if listen != "0.0.0.0" {
				addr = net.JoinHostPort(listen, addr)
			}
			if err := os.WriteFile(ports, []byte(apacheConf(addr)), 0o644); err != nil {
				return fmt.Errorf("writing apache2's listener configuration: %w", err)
			}
			return nil
		},
	}, nil
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

// Content is the document of size bytes every trial serves.
func Content(size int) []byte { return httpload.Content(size) }
