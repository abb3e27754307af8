// Package network measures what a container's network costs: iperf3 TCP throughput from
// the host into the container and back out, and TCP request/response latency of the
// probe's echo server. The container gets its own network namespace joined to the host by
// a veth pair (host driver: the host's loopback); gVisor serves it with its own network
// stack, so every sample records which stack served it.
package network

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/probe"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "network"

// Metric names.
const (
	MetricThroughput  = "throughput"
	MetricRetransmits = "retransmits"
	MetricLatencyP50  = "latency_p50"
	MetricLatencyP99  = "latency_p99"
)

// Parameters every sample carries.
const (
	ParamDirection = "direction"

	DirectionHostToContainer = "host-to-container"
	DirectionContainerToHost = "container-to-host"
	// DirectionRoundTrip marks latency samples: a request from the host and its response.
	DirectionRoundTrip = "round-trip"
)

// Settings keys (config file: benchmarks: network: {...}).
const (
	SettingDuration     = "duration"
	SettingRoundTrips   = "round_trips"
	SettingMessageSize  = "message_size"
	SettingReadyTimeout = "ready_timeout"
)

// Settings are the benchmark's settings.
type Settings struct {
	// Duration is how long iperf3 sends in each direction (whole seconds).
	Duration bench.Duration `yaml:"duration"`
	// RoundTrips is how many request/response round trips the latency test times.
	RoundTrips int `yaml:"round_trips"`
	// MessageSize is the bytes of each latency request and of its response.
	MessageSize int `yaml:"message_size"`
	// ReadyTimeout bounds the wait for the servers in the container to listen.
	ReadyTimeout bench.Duration `yaml:"ready_timeout"`
}

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Duration: bench.Duration(10 * time.Second), RoundTrips: 20_000, MessageSize: 1,
		ReadyTimeout: bench.Duration(60 * time.Second)}
	if quick {
		s.Duration, s.RoundTrips = bench.Duration(2*time.Second), 2_000
	}
	return s
}

// Validate refuses settings iperf3 or the latency test cannot run.
func (s Settings) Validate() error {
	// iperf3 takes whole seconds.
	if d := s.Duration.D(); d < time.Second || d%time.Second != 0 {
		return fmt.Errorf("setting %s: %s is not a whole number of seconds (at least 1s)", SettingDuration, d)
	}
	if s.RoundTrips < 1 || s.MessageSize < 1 || s.ReadyTimeout <= 0 {
		return fmt.Errorf("settings %s, %s and %s must be positive", SettingRoundTrips, SettingMessageSize, SettingReadyTimeout)
	}
	return nil
}

// addrDir is where the container finds files naming its own address (ip) and the host's
// (host-ip). They are known only once the driver made the container's network, after the
// spec, and so the workload's arguments, was fixed.
const addrDir = "/.isobench-net"

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "iperf3 TCP throughput host to container and back (Gbit/s, retransmits) and TCP round-trip latency (us) over the container's own network"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{
		{Name: MetricThroughput, Unit: "Gbit/s", Better: results.Higher, Description: "iperf3 TCP goodput, one stream, as the receiver counted it"},
		{Name: MetricRetransmits, Unit: "count", Better: results.Lower, Description: "TCP segments the sender retransmitted during the iperf3 run"},
		{Name: MetricLatencyP50, Unit: "us", Better: results.Lower, Description: "median TCP request/response round trip, host client to echo server in the container"},
		{Name: MetricLatencyP99, Unit: "us", Better: results.Lower, Description: "99th percentile TCP request/response round trip"},
		bench.CPUCostMetric(bench.MetricHostCPUPerGbit, "Gbit"),
	}
}

// Tools are what the container runs; the host needs iperf3 too, which Run checks.
func (Benchmark) Tools() []string { return []string{"sh", "cat", "iperf3"} }

// Run starts one container that runs iperf3 clients against a server on the host, then
// serves the probe's echo server to a client on the host.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) (err error) {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	hostIperf, err := bench.HostTool("iperf3", "iperf3")
	if err != nil {
		return err
	}
	if t.Probe == "" {
		return fmt.Errorf("no probe binary to bind at %s", bench.ProbePath)
	}
	ports, err := bench.FreeLoopbackPorts(2)
	if err != nil {
		return err
	}
	iperfPort, echoPort := ports[0], ports[1]

	dir, err := bench.NewBindDir("net")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	stdout, stderr := bench.NewLineWatch(), bench.NewLineWatch()
	c, err := bench.NewServerContainer(ctx, t, "container", runtime.Spec{
		Args: []string{"/bin/sh", "-c", containerScript(cfg, iperfPort, echoPort)},
		Mounts: []runtime.Mount{
			{Type: "bind", Source: t.Probe, Destination: bench.ProbePath, ReadOnly: true},
			{Type: "bind", Source: dir, Destination: addrDir, ReadOnly: true},
		},
	}, stdout, stderr)
	if err != nil {
		return err
	}
	defer c.Remove(ctx, &err)
	failed := c.Failed
	netInfo := c.Network()
	if netInfo.HostIP == "" {
		return fmt.Errorf("runtime %s gave the container no network shared with the host", t.Runtime)
	}
	// Where the echo server listens: the container's address when known now; otherwise
	// (engines assign it at start) every address of the container's own namespace.
	listen := netInfo.ContainerIP
	if listen == "" {
		listen = "0.0.0.0"
	}
	for name, ip := range map[string]string{"ip": listen, "host-ip": netInfo.HostIP} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(ip+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing the container's addresses: %w", err)
		}
	}

	if _, netInfo, err = c.Launch(ctx, cfg.ReadyTimeout.D()); err != nil {
		return err
	}
	cpu := bench.StartCPU(ctx, t, c, "the iperf3 runs")
	// The server starts only now: some engines put the host's address on their bridge
	// when the first container starts. The clients in the container wait for it.
	server, err := startIperf3Server(ctx, t, hostIperf, netInfo.HostIP, iperfPort, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if serr := server.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	t.Logf("network %s: container %s, host %s, stack %s", t.Runtime, netInfo.ContainerIP, netInfo.HostIP, netInfo.Stack)
	// Every iperf3 run of both directions, plus the container's start.
	runs := time.Duration(2 * iperf3Attempts)
	clientsCtx, cancel := context.WithTimeout(ctx, runs*(cfg.Duration.D()+iperf3Slack)+cfg.ReadyTimeout.D())
	err = stdout.WaitFor(clientsCtx, markDone)
	cancel()
	if err != nil {
		return failed("waiting for the iperf3 clients in the container", err)
	}
	cpuUsed := cpu.Stop(ctx)
	reports, attempts, err := splitReports(stdout.Bytes())
	if err != nil {
		return failed("reading the iperf3 clients' reports", err)
	}
	type measured struct {
		direction string
		res       Iperf3Result
	}
	var throughputs []measured
	for i, direction := range []string{DirectionContainerToHost, DirectionHostToContainer} {
		if err := t.KeepRaw("iperf3-"+direction+".json", reports[i]); err != nil {
			return err
		}
		res, err := ParseIperf3(reports[i])
		if err != nil {
			return failed(fmt.Sprintf("iperf3 %s (%d attempts)", direction, attempts[i]), err)
		}
		if attempts[i] > 1 {
			t.Logf("network %s: iperf3 %s took %d attempts; the reports of all are in container.stdout", t.Runtime, direction, attempts[i])
		}
		throughputs = append(throughputs, measured{direction, res})
	}

	readyCtx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout.D())
	err = stderr.WaitFor(readyCtx, "listening ")
	cancel()
	if err != nil {
		return failed("waiting for the echo server in the container", err)
	}
	lat, err := runPingPong(ctx, t, net.JoinHostPort(netInfo.ContainerIP, strconv.Itoa(echoPort)), cfg)
	if err != nil {
		return failed("tcp round trips", err)
	}
	if lat.TimedOut {
		t.Logf("network %s: the latency test timed out after %d of %d round trips", t.Runtime, lat.Count, lat.Requested)
	}

	t.SetInfo(bench.InfoStack, netInfo.Stack)
	params := func(direction string) map[string]string {
		return map[string]string{ParamDirection: direction}
	}
	for _, m := range throughputs {
		t.Emit(MetricThroughput, m.res.BitsPerSecond/1e9, params(m.direction))
		// A sender without TCP_INFO (some user-space stacks) reports none; zero would lie.
		if m.res.Retransmits >= 0 {
			t.Emit(MetricRetransmits, float64(m.res.Retransmits), params(m.direction))
		}
	}
	t.Emit(MetricLatencyP50, lat.P50us, params(DirectionRoundTrip))
	t.Emit(MetricLatencyP99, lat.P99us, params(DirectionRoundTrip))
	// Host CPU per Gbit moved in both directions; a repeated iperf3 run took CPU for
	// bits no report counts, so then there is no figure rather than a wrong one.
	gbits := 0.0
	for _, m := range throughputs {
		gbits += m.res.BitsPerSecond * m.res.Seconds / 1e9
	}
	if attempts[0] == 1 && attempts[1] == 1 {
		bench.EmitCPUCost(t, bench.MetricHostCPUPerGbit, cpuUsed, gbits, nil)
	} else {
		t.Logf("network %s: no host CPU per Gbit: iperf3 ran more than once", t.Runtime)
	}
	return nil
}

// Lines the container prints between and after its two iperf3 reports.
const (
	markNext = "isobench-iperf3-next"
	markDone = "isobench-iperf3-done"
	// markAttempt starts each iperf3 run, so that only the last run's report is read.
	markAttempt = "isobench-iperf3-attempt"
)

// iperf3Slack is what one iperf3 run may take beyond its duration (connecting, results exchange).
const iperf3Slack = 30 * time.Second

// iperf3Attempts bounds the runs per direction. iperf3 3.12 takes a short read on its
// control connection for a broken test, and old runsc releases deliver short reads
// there now and then, so a run whose results exchange broke is repeated.
const iperf3Attempts = 5

// containerScript is the container's workload. The iperf3 clients run in the container
// and the server on the host: iperf3's server reads its control connection without
// blocking, which old runsc releases break on every socket they accept. The first
// direction sends from the container, the second (--reverse) from the host. The echo
// server then stays up for the latency test until the container is deleted; it reports
// to stderr so that stdout holds only the reports and the marker lines.
func containerScript(cfg *Settings, iperfPort, echoPort int) string {
	return fmt.Sprintf(`ip=$(cat %[1]s/ip) && host=$(cat %[1]s/host-ip) || exit 1
%[2]s %[3]s tcp-server --listen "$ip:%[4]d" >&2 &
measure() {
	for attempt in %[8]s; do
		echo %[9]s
		# The host's server may not listen yet: wait for it (bounded), not counting attempts.
		waits=0
		while :; do
			report=$(iperf3 --client "$host" --port %[5]d --time %[10]d --json --connect-timeout 5000 "$@")
			case "$report" in *'Connection refused'*) ;; *) break ;; esac
			waits=$((waits + 1))
			[ "$waits" -lt 600 ] || break
			sleep 0.1
		done
		printf '%%s\n' "$report"
		# iperf3 3.12 may exit 0 with an error in its report.
		case "$report" in *'"error":'*) ;; *) return 0 ;; esac
	done
}
measure
echo %[6]s
measure --reverse
echo %[7]s
wait`, addrDir, bench.ProbePath, probe.Command, echoPort, iperfPort, markNext, markDone,
		attemptList(), markAttempt, int(cfg.Duration.D()/time.Second))
}

// attemptList is "1 2 3" for the shell's loop over attempts.
func attemptList() string {
	var n []string
	for i := 1; i <= iperf3Attempts; i++ {
		n = append(n, strconv.Itoa(i))
	}
	return strings.Join(n, " ")
}

// splitReports cuts the container's stdout into the last iperf3 report of each direction
// and tells how many attempts each took.
func splitReports(out []byte) (reports [][]byte, attempts []int, err error) {
	first, rest, ok := bytes.Cut(out, []byte(markNext+"\n"))
	if !ok {
		return nil, nil, fmt.Errorf("no %q line between the reports", markNext)
	}
	second, _, ok := bytes.Cut(rest, []byte(markDone+"\n"))
	if !ok {
		return nil, nil, fmt.Errorf("no %q line after the reports", markDone)
	}
	for _, part := range [][]byte{first, second} {
		n := bytes.Count(part, []byte(markAttempt+"\n"))
		if i := bytes.LastIndex(part, []byte(markAttempt+"\n")); i >= 0 {
			part = part[i+len(markAttempt)+1:]
		}
		reports = append(reports, jsonOnly(part))
		attempts = append(attempts, n)
	}
	return reports, attempts, nil
}

// jsonOnly drops what iperf3 prints before its JSON report (a "WARNING:" line about a
// short read, for one).
func jsonOnly(report []byte) []byte {
	if bytes.HasPrefix(report, []byte("{")) {
		return report
	}
	if i := bytes.Index(report, []byte("\n{")); i >= 0 {
		return report[i+1:]
	}
	return report
}

// iperf3Server is the host's iperf3 server, bound to the host end of the container's link.
type iperf3Server struct {
	cmd    *exec.Cmd
	done   chan struct{}
	output *bench.LineWatch
	trial  *bench.Trial
}

// startIperf3Server starts the server and waits until it listens; it serves both runs.
func startIperf3Server(ctx context.Context, t *bench.Trial, iperf3, hostIP string, port int, cfg *Settings) (*iperf3Server, error) {
	s := &iperf3Server{output: bench.NewLineWatch(), done: make(chan struct{}), trial: t}
	// --forceflush: the "Server listening" line must come through the pipe at once.
	s.cmd = exec.Command(iperf3, "--server", "--forceflush", "--bind", hostIP, "--port", strconv.Itoa(port))
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the iperf3 server on the host: %w", err)
	}
	go func() {
		// The server ends killed, so its exit status says nothing; its output says the rest.
		_ = s.cmd.Wait()
		close(s.done)
	}()
	readyCtx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout.D())
	defer cancel()
	select {
	case <-s.done:
		err := fmt.Errorf("the iperf3 server on the host exited at once: %s", strings.TrimSpace(string(s.output.Bytes())))
		return nil, errors.Join(err, s.stop())
	default:
	}
	if err := s.output.WaitFor(readyCtx, "Server listening on"); err != nil {
		return nil, errors.Join(fmt.Errorf("the iperf3 server on the host: %w", err), s.stop())
	}
	return s, nil
}

// stop kills the server, waits for it and keeps its log.
func (s *iperf3Server) stop() error {
	// Kill fails only when the server has exited already, which waiting tells as well.
	_ = s.cmd.Process.Kill()
	<-s.done
	return s.trial.KeepRaw("iperf3-server.log", s.output.Bytes())
}

// runPingPong runs the probe's TCP client on the host against the echo server in the container.
func runPingPong(ctx context.Context, t *bench.Trial, addr string, cfg *Settings) (*probe.TCPResult, error) {
	// Generous: even gVisor on ptrace makes thousands of round trips per second.
	bound := 30*time.Second + time.Duration(cfg.RoundTrips)*time.Millisecond
	args := []string{probe.Command, "tcp-client", "--connect", addr,
		"--count", strconv.Itoa(cfg.RoundTrips), "--size", strconv.Itoa(cfg.MessageSize), "--timeout", bound.String()}
	runCtx, cancel := context.WithTimeout(ctx, bound+10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, t.Probe, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if err := t.KeepRaw("tcp-client.json", stdout.Bytes()); err != nil {
		return nil, err
	}
	if runErr != nil {
		return nil, fmt.Errorf("probe tcp-client: %w: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	return ParseTCPResult(stdout.Bytes())
}

// ParseTCPResult reads what `probe tcp-client` prints and checks that it holds timed round trips.
func ParseTCPResult(out []byte) (*probe.TCPResult, error) {
	var res probe.TCPResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
		return nil, fmt.Errorf("probe tcp-client output is not its JSON result (cut short?): %w", err)
	}
	if res.Count < 1 || !(res.P50us > 0) || !(res.P99us >= res.P50us) {
		return nil, fmt.Errorf("probe tcp-client result holds no timed round trips: %+v", res)
	}
	return &res, nil
}
