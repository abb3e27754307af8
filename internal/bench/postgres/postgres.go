// Package postgres measures PostgreSQL under each runtime: the server runs in a container
// of the runtime under test and pgbench on the host drives it across the container's
// network, read-only (SELECT on pgbench_accounts) and TPC-B-like (pgbench's default
// script), at a small scale factor. It reports transactions per second, latency p50/p99
// from pgbench's per-transaction log, and the host CPU the runtime took per 1,000
// transactions.
package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "postgres"

// Metric names.
const (
	MetricTPS        = "transactions_per_second"
	MetricLatencyP50 = "latency_p50"
	MetricLatencyP99 = "latency_p99"
)

// Parameters of the samples.
const (
	ParamMode = "mode"

	ModeReadOnly = "read-only"
	ModeTPCB     = "tpc-b"
)

// Settings are the benchmark's settings (config file: benchmarks: postgres: {...}).
type Settings struct {
	// Scale is pgbench's scale factor: 100,000 accounts each.
	Scale int `yaml:"scale"`
	// Clients is pgbench's connections; its threads are min(clients, 2).
	Clients int `yaml:"clients"`
	// Duration is how long each mode runs (whole seconds).
	Duration bench.Duration `yaml:"duration"`
	// ReadyTimeout bounds the wait for the server to accept connections.
	ReadyTimeout bench.Duration `yaml:"ready_timeout"`
}

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Scale: 5, Clients: 8, Duration: bench.Duration(10 * time.Second), ReadyTimeout: bench.Duration(90 * time.Second)}
	if quick {
		s.Scale, s.Clients, s.Duration = 1, 4, bench.Duration(3*time.Second)
	}
	return s
}

// Validate refuses settings pgbench or the server cannot run.
func (s Settings) Validate() error {
	if s.Scale < 1 || s.Clients < 1 || s.ReadyTimeout <= 0 {
		return errors.New("settings scale, clients and ready_timeout must be positive")
	}
	// pgbench -T takes whole seconds.
	if d := s.Duration.D(); d < time.Second || d%time.Second != 0 {
		return fmt.Errorf("setting duration: %s is not a whole number of seconds (at least 1s)", d)
	}
	// Each server connection is a process; more than the server allows fails every trial.
	if s.Clients > maxConnections-5 || s.Scale > 1000 {
		return fmt.Errorf("settings clients (at most %d) or scale (at most 1000) too large", maxConnections-5)
	}
	return nil
}

// The database's user, and where the trial's configuration appears in the container.
const (
	user    = "postgres"
	confDir = "/.isobench-postgres"
)

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "PostgreSQL in the runtime, pgbench on the host: read-only and TPC-B-like transactions/s and latency p50/p99 (ms) at a small scale; host CPU per 1,000 transactions"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{
		{Name: MetricTPS, Unit: "tx/s", Better: results.Higher, Description: "transactions per second pgbench counted, without connection set-up"},
		{Name: MetricLatencyP50, Unit: "ms", Better: results.Lower, Description: "median transaction latency from pgbench's per-transaction log"},
		{Name: MetricLatencyP99, Unit: "ms", Better: results.Lower, Description: "99th percentile transaction latency"},
		bench.CPUCostMetric(bench.MetricHostCPUPer1kTx, "1k tx"),
	}
}

// Tools are what the container runs: the server itself lies outside PATH
// (/usr/lib/postgresql/VERSION/bin), so Debian's postgresql-common stands for it and the
// script says so when the server is missing. The host needs pgbench and pg_isready, which
// Run checks.
func (Benchmark) Tools() []string { return []string{"sh", "cat", "runuser", "pg_ctlcluster"} }

// maxConnections is the server's connection limit.
const maxConnections = 105

// serverScript starts PostgreSQL in the foreground as its own user: with the cluster
// Debian's package made in the image when there is one, else in a fresh one. The
// trial's settings override the cluster's: the listener, trust for the host's client
// (pg_hba.conf in confDir), no TLS, the socket in /tmp.
func serverScript() string {
	return fmt.Sprintf(`set -e
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[ -x "$bin/postgres" ] || { echo "no PostgreSQL server under /usr/lib/postgresql in the image" >&2; exit 1; }
conf=$(ls /etc/postgresql/*/main/postgresql.conf 2>/dev/null | sort -V | tail -n 1 || true)
set -- -c listen_addresses="$LISTEN" -c port="$PORT" -c hba_file=%[1]s/pg_hba.conf -c ssl=off \
	-c unix_socket_directories=/tmp -c external_pid_file= -c max_connections=%[2]d -c log_destination=stderr -c logging_collector=off
if [ -n "$conf" ]; then
	version=$(basename "$(dirname "$(dirname "$conf")")")
	if [ -f "/var/lib/postgresql/$version/main/PG_VERSION" ]; then
		exec runuser -u %[3]s -- "$bin/postgres" -c config_file="$conf" "$@"
	fi
fi
data=/var/lib/postgresql/isobench
if [ ! -f "$data/PG_VERSION" ]; then
	mkdir -p "$data" && chown %[3]s: "$data"
	runuser -u %[3]s -- "$bin/initdb" -D "$data" -A trust -U %[3]s --no-sync >&2
fi
exec runuser -u %[3]s -- "$bin/postgres" -D "$data" "$@"`, confDir, maxConnections, user)
}

// hbaConf lets every client in: the server is reachable only from the host, across the
// container's own link (or on the host's loopback for the host driver).
const hbaConf = `# isobench postgres benchmark
local all all trust
host all all 0.0.0.0/0 trust
host all all ::/0 trust
`

// Run starts PostgreSQL, initialises pgbench's tables, then runs each mode.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) (err error) {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	pgbench, err := bench.HostTool("pgbench", "postgresql-client")
	if err != nil {
		return err
	}
	isready, err := bench.HostTool("pg_isready", "postgresql-client")
	if err != nil {
		return err
	}
	dir, err := bench.NewBindDir("postgres")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "pg_hba.conf"), []byte(hbaConf), 0o644); err != nil {
		return fmt.Errorf("writing pg_hba.conf: %w", err)
	}
	srv, err := bench.StartServer(ctx, t, bench.ServerSpec{
		Name: "postgres", Script: serverScript(),
		Mounts:       []runtime.Mount{{Type: "bind", Source: dir, Destination: confDir, ReadOnly: true}},
		Ready:        func(ctx context.Context, addr string) error { return pgIsReady(ctx, isready, addr) },
		ReadyTimeout: cfg.ReadyTimeout.D(),
	})
	defer srv.Remove(ctx, &err)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		return err
	}
	conn := []string{"-h", host, "-p", port, "-U", user}
	initBound := 60*time.Second + time.Duration(cfg.Scale)*20*time.Second
	if _, err := runPgbench(ctx, t, pgbench, "init", initBound, append(append([]string{"-i", "-q", "-s", strconv.Itoa(cfg.Scale)}, conn...), user)); err != nil {
		return srv.Failed("pgbench -i", err)
	}

	type measured struct {
		mode string
		res  *Result
		cpu  bench.HostCPU
	}
	var runs []measured
	threads := min(cfg.Clients, 2)
	for _, mode := range []string{ModeReadOnly, ModeTPCB} {
		logDir, err := os.MkdirTemp("", runtime.NamePrefix+"pgbench-")
		if err != nil {
			return fmt.Errorf("making pgbench's log directory: %w", err)
		}
		args := append([]string{"-n", "-T", strconv.Itoa(int(cfg.Duration.D() / time.Second)),
			"-c", strconv.Itoa(cfg.Clients), "-j", strconv.Itoa(threads),
			"-l", "--log-prefix", filepath.Join(logDir, "tx")}, conn...)
		if mode == ModeReadOnly {
			args = append([]string{"-S"}, args...)
		}
		args = append(args, user)
		cpu := bench.StartCPU(ctx, t, srv, "pgbench "+mode)
		out, err := runPgbench(ctx, t, pgbench, mode, cfg.Duration.D()+60*time.Second, args)
		used := cpu.Stop(ctx)
		var res *Result
		if err == nil {
			res, err = ParseOutput(out)
		}
		if err == nil {
			res.P50ms, res.P99ms, err = logPercentiles(logDir)
		}
		os.RemoveAll(logDir)
		if err != nil {
			return srv.Failed("pgbench "+mode, err)
		}
		runs = append(runs, measured{mode, res, used})
	}

	t.SetInfo(bench.InfoStack, srv.Net.Stack)
	for _, r := range runs {
		p := map[string]string{ParamMode: r.mode}
		t.Emit(MetricTPS, r.res.TPS, p)
		t.Emit(MetricLatencyP50, r.res.P50ms, p)
		t.Emit(MetricLatencyP99, r.res.P99ms, p)
		bench.EmitCPUCost(t, bench.MetricHostCPUPer1kTx, r.cpu, float64(r.res.Transactions)/1000, p)
	}
	return nil
}

// pgIsReady asks pg_isready on the host whether the server accepts connections.
func pgIsReady(ctx context.Context, isready, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(runCtx, isready, "-h", host, "-p", port, "-U", user, "-t", "1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_isready: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runPgbench runs pgbench within bound and keeps its output under raw/.
func runPgbench(ctx context.Context, t *bench.Trial, pgbench, label string, bound time.Duration, args []string) ([]byte, error) {
	runCtx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(runCtx, pgbench, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// Only the container's server: no service file, password file or TLS from the host.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10", "PGSERVICEFILE=/nonexistent", "PGPASSFILE=/nonexistent"}
	runErr := cmd.Run()
	if err := t.KeepRaw("pgbench-"+label+".log", out.Bytes()); err != nil {
		return nil, err
	}
	if runErr != nil {
		return nil, fmt.Errorf("pgbench %s: %w: %s", strings.Join(args, " "), runErr, lastLines(out.String(), 5))
	}
	return out.Bytes(), nil
}

// Result is what one pgbench run reported.
type Result struct {
	TPS          float64
	Transactions int64
	Failed       int64
	P50ms, P99ms float64
}

var (
	tpsLine       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	processedLine = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
	failedLine    = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

// ParseOutput reads pgbench's summary and checks that it holds a result with no failed
// transactions.
func ParseOutput(out []byte) (*Result, error) {
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("pgbench printed no \"tps = ... (without initial connection time)\" line: %s", lastLines(string(out), 5))
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || !(tps > 0) || tps > 1e9 {
		return nil, fmt.Errorf("pgbench tps %q is not a plausible number", m[1])
	}
	res := &Result{TPS: tps}
	m = processedLine.FindSubmatch(out)
	if m == nil {
		return nil, errors.New("pgbench printed no \"number of transactions actually processed\" line")
	}
	if res.Transactions, err = strconv.ParseInt(string(m[1]), 10, 64); err != nil || res.Transactions < 1 {
		return nil, fmt.Errorf("pgbench processed %q transactions", m[1])
	}
	if m = failedLine.FindSubmatch(out); m != nil {
		res.Failed, _ = strconv.ParseInt(string(m[1]), 10, 64)
		if res.Failed > 0 {
			return nil, fmt.Errorf("pgbench: %d of %d transactions failed", res.Failed, res.Transactions+res.Failed)
		}
	}
	return res, nil
}

// logPercentiles reads pgbench's per-transaction logs (one file per thread; a line is
// "client transaction latency_us script epoch_s epoch_us") and returns the median and
// 99th percentile latency in ms.
func logPercentiles(dir string) (p50, p99 float64, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "tx*"))
	if err != nil || len(files) == 0 {
		return 0, 0, fmt.Errorf("pgbench wrote no transaction log in %s", dir)
	}
	var lat []float64
	for _, f := range files {
		l, err := ReadLog(f)
		if err != nil {
			return 0, 0, err
		}
		lat = append(lat, l...)
	}
	if len(lat) == 0 {
		return 0, 0, errors.New("pgbench's transaction logs hold no transaction")
	}
	sort.Float64s(lat)
	return percentile(lat, 0.50) / 1000, percentile(lat, 0.99) / 1000, nil
}

// ReadLog reads the latencies (us) of one pgbench transaction log.
func ReadLog(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading pgbench's log: %w", err)
	}
	defer f.Close()
	var lat []float64
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			return nil, fmt.Errorf("%s line %d: %q is not a transaction record", path, n, sc.Text())
		}
		// A failed or skipped transaction has "failed"/"skipped" instead of a latency.
		v, err := strconv.ParseFloat(fields[2], 64)
		if err != nil || v < 0 || v > 1e12 {
			return nil, fmt.Errorf("%s line %d: latency %q is not a number of microseconds", path, n, fields[2])
		}
		lat = append(lat, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return lat, nil
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
