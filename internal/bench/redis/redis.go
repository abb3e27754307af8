// Package redis measures redis-server under each runtime: the server runs in a container
// of the runtime under test and redis-benchmark on the host drives GET and SET across
// the container's network, one request at a time per connection and pipelined. It
// reports requests per second, latency p50/p99, and the host CPU the runtime took per
// 1,000 requests.
package redis

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
)

// Name is the benchmark's name in configs and results.
const Name = "redis"

// Metric names.
const (
	MetricRequestsPerSecond = "requests_per_second"
	MetricLatencyP50        = "latency_p50"
	MetricLatencyP99        = "latency_p99"
)

// Parameters of the samples.
const (
	ParamOp       = "op"
	ParamPipeline = "pipeline"
)

// Settings are the benchmark's settings (config file: benchmarks: redis: {...}).
type Settings struct {
	// Requests is the requests per operation and pipeline depth.
	Requests int `yaml:"requests"`
	// Clients is redis-benchmark's parallel connections.
	Clients int `yaml:"clients"`
	// Pipeline is the pipelined run's depth (requests sent before reading replies).
	Pipeline int `yaml:"pipeline"`
	// ReadyTimeout bounds the wait for the server to answer.
	ReadyTimeout bench.Duration `yaml:"ready_timeout"`
}

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Requests: 200_000, Clients: 32, Pipeline: 16, ReadyTimeout: bench.Duration(60 * time.Second)}
	if quick {
		s.Requests = 20_000
	}
	return s
}

// Validate refuses settings that cannot drive a server.
func (s Settings) Validate() error {
	if s.Requests < 1 || s.Clients < 1 || s.Pipeline < 2 || s.ReadyTimeout <= 0 {
		return errors.New("settings requests, clients and ready_timeout must be positive and pipeline at least 2")
	}
	if s.Requests > 100_000_000 || s.Clients > 10_000 || s.Pipeline > 10_000 {
		return errors.New("settings requests (at most 100000000), clients and pipeline (at most 10000 each) are too large")
	}
	return nil
}

// ops are the commands redis-benchmark runs, as it names them in its CSV.
var ops = []string{"SET", "GET"}

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "redis-server in the runtime, redis-benchmark on the host: GET/SET requests/s and latency p50/p99 (ms), unpipelined and pipelined; host CPU per 1,000 requests"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{
		{Name: MetricRequestsPerSecond, Unit: "req/s", Better: results.Higher, Description: "requests per second redis-benchmark counted"},
		{Name: MetricLatencyP50, Unit: "ms", Better: results.Lower, Description: "median request latency redis-benchmark measured"},
		{Name: MetricLatencyP99, Unit: "ms", Better: results.Lower, Description: "99th percentile request latency"},
		bench.CPUCostMetric(bench.MetricHostCPUPer1kRequests, "1k req"),
	}
}

// Tools are what the container runs; the host needs redis-benchmark, which Run checks.
func (Benchmark) Tools() []string { return []string{"sh", "cat", "redis-server"} }

// serverScript runs redis-server in the foreground, without persistence, logging to stdout.
const serverScript = `exec redis-server --bind "$LISTEN" --port "$PORT" --protected-mode no --save '' --appendonly no --daemonize no --logfile ''`

// Run starts redis-server, then runs redis-benchmark unpipelined and pipelined.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) (err error) {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	client, err := bench.HostTool("redis-benchmark", "redis-tools")
	if err != nil {
		return err
	}
	srv, err := bench.StartServer(ctx, t, bench.ServerSpec{
		Name: "redis-server", Script: serverScript,
		ReadyTimeout: cfg.ReadyTimeout.D(), Ready: ping,
	})
	defer srv.Remove(ctx, &err)
	if err != nil {
		return err
	}

	type measured struct {
		pipeline int
		rows     []Row
		cpu      bench.HostCPU
	}
	var runs []measured
	for _, depth := range []int{1, cfg.Pipeline} {
		cpu := bench.StartCPU(ctx, t, srv, fmt.Sprintf("redis-benchmark -P %d", depth))
		rows, err := runClient(ctx, t, client, srv.Addr, depth, cfg)
		if err != nil {
			return srv.Failed(fmt.Sprintf("redis-benchmark, pipeline %d", depth), err)
		}
		runs = append(runs, measured{depth, rows, cpu.Stop(ctx)})
	}

	t.SetInfo(bench.InfoStack, srv.Net.Stack)
	for _, r := range runs {
		pipe := strconv.Itoa(r.pipeline)
		for _, row := range r.rows {
			p := map[string]string{ParamOp: strings.ToLower(row.Test), ParamPipeline: pipe}
			t.Emit(MetricRequestsPerSecond, row.RPS, p)
			t.Emit(MetricLatencyP50, row.P50ms, p)
			t.Emit(MetricLatencyP99, row.P99ms, p)
		}
		requests := float64(cfg.Requests * len(r.rows))
		bench.EmitCPUCost(t, bench.MetricHostCPUPer1kRequests, r.cpu, requests/1000, map[string]string{ParamPipeline: pipe})
	}
	return nil
}

// ping is ready when redis answers PING with PONG (it accepts connections while still
// loading).
func ping(ctx context.Context, addr string) error {
	conn, err := bench.DialServer(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(buf[:n], []byte("+PONG")) {
		return fmt.Errorf("PING answered %q", buf[:n])
	}
	return nil
}

// clientBound is what one redis-benchmark run may take: generous, since gVisor on ptrace
// serves a few thousand requests per second.
func clientBound(cfg *Settings) time.Duration {
	return 60*time.Second + time.Duration(cfg.Requests*len(ops))*time.Millisecond
}

func runClient(ctx context.Context, t *bench.Trial, client, addr string, depth int, cfg *Settings) ([]Row, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithTimeout(ctx, clientBound(cfg))
	defer cancel()
	args := []string{"-h", host, "-p", port, "-t", strings.ToLower(strings.Join(ops, ",")),
		"-n", strconv.Itoa(cfg.Requests), "-c", strconv.Itoa(cfg.Clients), "-P", strconv.Itoa(depth),
		"-r", "100000", "--csv"}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, client, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if err := t.KeepRaw(fmt.Sprintf("redis-benchmark-P%d.csv", depth), stdout.Bytes()); err != nil {
		return nil, err
	}
	if runErr != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", client, strings.Join(args, " "), runErr, strings.TrimSpace(stderr.String()))
	}
	rows, err := ParseCSV(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	if len(rows) != len(ops) {
		return nil, fmt.Errorf("redis-benchmark reported %d tests, want %d (%v)", len(rows), len(ops), ops)
	}
	return rows, nil
}

// Row is one test of redis-benchmark's CSV output.
type Row struct {
	Test         string
	RPS          float64
	P50ms, P99ms float64
}

// ParseCSV reads redis-benchmark --csv output (a header, then one row per test) and
// checks that each row holds plausible numbers.
func ParseCSV(out []byte) ([]Row, error) {
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("redis-benchmark output is not CSV: %w", err)
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("redis-benchmark printed no result rows: %q", out)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, want := range []string{"test", "rps", "p50_latency_ms", "p99_latency_ms"} {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("redis-benchmark CSV header %v lacks %q", recs[0], want)
		}
	}
	var rows []Row
	for _, rec := range recs[1:] {
		if len(rec) != len(recs[0]) {
			return nil, fmt.Errorf("redis-benchmark CSV row %v has %d fields, header %d", rec, len(rec), len(recs[0]))
		}
		num := func(name string) (float64, error) {
			v, err := strconv.ParseFloat(rec[col[name]], 64)
			if err != nil || v < 0 || v != v || v > 1e12 {
				return 0, fmt.Errorf("redis-benchmark %s %s: %q is not a plausible number", rec[col["test"]], name, rec[col[name]])
			}
			return v, nil
		}
		r := Row{Test: rec[col["test"]]}
		if r.RPS, err = num("rps"); err != nil {
			return nil, err
		}
		if r.P50ms, err = num("p50_latency_ms"); err != nil {
			return nil, err
		}
		if r.P99ms, err = num("p99_latency_ms"); err != nil {
			return nil, err
		}
		if r.RPS == 0 || r.P99ms < r.P50ms {
			return nil, fmt.Errorf("redis-benchmark %s: %v requests/s with p50 %v ms and p99 %v ms is not a result", r.Test, r.RPS, r.P50ms, r.P99ms)
		}
		rows = append(rows, r)
	}
	return rows, nil
}
