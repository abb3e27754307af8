// Package network measures what a container's network costs: iperf3 TCP throughput from
// the host into the container and back out, and TCP request/response latency of the
// probe's echo server. The container gets its own network namespace joined to the host by
// a veth pair (host driver: the host's loopback); gVisor serves it with its own network
// stack, so every sample records which stack served it.
package network

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	ParamStack     = "stack"

	DirectionHostToContainer = "host-to-container"
	DirectionContainerToHost = "container-to-host"
	// DirectionRoundTrip marks latency samples: a request from the host and its response.
	DirectionRoundTrip = "round-trip"
)

// Settings keys (config file: benchmarks: network: {...}) and their defaults.
const (
	// SettingDuration is how long iperf3 sends in each direction.
	SettingDuration = "duration"
	// SettingRoundTrips is how many request/response round trips the latency test times.
	SettingRoundTrips = "round_trips"
	// SettingMessageSize is the bytes of each latency request and of its response.
	SettingMessageSize = "message_size"
	// SettingReadyTimeout bounds the wait for the servers in the container to listen.
	SettingReadyTimeout = "ready_timeout"

	DefaultDuration     = 10 * time.Second
	DefaultRoundTrips   = 20_000
	DefaultMessageSize  = 1
	DefaultReadyTimeout = 60 * time.Second
	QuickDuration       = 2 * time.Second
	QuickRoundTrips     = 2_000
)

// listenDir is where the container finds the file naming the address to listen on. The
// address is known only once the driver made the container's network, after the spec
// (and so its arguments) was fixed.
const listenDir = "/.isobench-net"

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
	}
}

// Tools are what the container runs; the host needs iperf3 too, which Run checks.
func (Benchmark) Tools() []string { return []string{"sh", "cat", "iperf3"} }

type settings struct {
	duration     time.Duration
	roundTrips   int
	messageSize  int
	readyTimeout time.Duration
}

func readSettings(t *bench.Trial) (settings, error) {
	s := settings{duration: DefaultDuration, roundTrips: DefaultRoundTrips, messageSize: DefaultMessageSize}
	if t.Quick {
		s.duration, s.roundTrips = QuickDuration, QuickRoundTrips
	}
	var err error
	if s.duration, err = t.Settings.Duration(SettingDuration, s.duration); err != nil {
		return s, err
	}
	if s.roundTrips, err = t.Settings.Int(SettingRoundTrips, s.roundTrips); err != nil {
		return s, err
	}
	if s.messageSize, err = t.Settings.Int(SettingMessageSize, s.messageSize); err != nil {
		return s, err
	}
	if s.readyTimeout, err = t.Settings.Duration(SettingReadyTimeout, DefaultReadyTimeout); err != nil {
		return s, err
	}
	// iperf3 takes whole seconds.
	if s.duration < time.Second || s.duration%time.Second != 0 {
		return s, fmt.Errorf("setting %s: %s is not a whole number of seconds (at least 1s)", SettingDuration, s.duration)
	}
	if s.roundTrips < 1 || s.messageSize < 1 || s.readyTimeout <= 0 {
		return s, fmt.Errorf("settings %s, %s and %s must be positive", SettingRoundTrips, SettingMessageSize, SettingReadyTimeout)
	}
	return s, nil
}

// Run starts one container holding an iperf3 server and the probe's echo server, and
// drives both from the host.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) error {
	cfg, err := readSettings(t)
	if err != nil {
		return err
	}
	hostIperf, err := exec.LookPath("iperf3")
	if err != nil {
		return errors.New("iperf3 not found on the host, which runs the client: apt-get install iperf3")
	}
	if t.Probe == "" {
		return fmt.Errorf("no probe binary to bind at %s", bench.ProbePath)
	}
	ports, err := FreeLoopbackPorts(2)
	if err != nil {
		return err
	}
	iperfPort, echoPort := ports[0], ports[1]

	dir, err := os.MkdirTemp("", runtime.NamePrefix+"net-")
	if err != nil {
		return fmt.Errorf("making the listen-address directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("making the listen-address directory: %w", err)
	}

	// One shell runs both servers: the echo server in the background, iperf3 as the main
	// process. --forceflush makes iperf3's "Server listening" line arrive through the pipe.
	script := fmt.Sprintf(`ip=$(cat %s/ip) || exit 1
%s %s tcp-server --listen "$ip:%d" &
exec iperf3 --server --forceflush --bind "$ip" --port %d`,
		listenDir, bench.ProbePath, probe.Command, echoPort, iperfPort)
	stdout := newLineWatch()
	stderr := &bench.FirstByteBuffer{}
	c, err := t.Driver.New(ctx, runtime.Spec{
		ID:      t.NewID(),
		Args:    []string{"/bin/sh", "-c", script},
		Stdout:  stdout,
		Stderr:  stderr,
		Network: true,
		RawDir:  t.RawDir,
		Mounts: []runtime.Mount{
			{Type: "bind", Source: t.Probe, Destination: bench.ProbePath, ReadOnly: true},
			{Type: "bind", Source: dir, Destination: listenDir, ReadOnly: true},
		},
	})
	if err != nil {
		return fmt.Errorf("preparing the server container: %w", err)
	}
	defer func() {
		_ = c.Delete(context.WithoutCancel(ctx))
		_ = os.WriteFile(filepath.Join(t.RawDir, "servers.stdout"), stdout.Bytes(), 0o644)
		_ = os.WriteFile(filepath.Join(t.RawDir, "servers.stderr"), stderr.Bytes(), 0o644)
	}()
	failed := func(step string, err error) error {
		return &bench.FailedError{Err: fmt.Errorf("%s: %w", step, err), Stderr: tail(stderr.Bytes(), 4096)}
	}
	netInfo := c.Network()
	if netInfo.ContainerIP == "" {
		return fmt.Errorf("runtime %s gave the container no network reachable from the host", t.Runtime)
	}
	if err := os.WriteFile(filepath.Join(dir, "ip"), []byte(netInfo.ContainerIP+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the listen address: %w", err)
	}
	if err := c.Create(ctx); err != nil {
		return failed("create", err)
	}
	if err := c.Start(ctx); err != nil {
		return failed("start", err)
	}
	t.Logf("network %s: servers at %s (stack %s)", t.Runtime, netInfo.ContainerIP, netInfo.Stack)
	readyCtx, cancel := context.WithTimeout(ctx, cfg.readyTimeout)
	err = stdout.WaitFor(readyCtx, "Server listening on", "listening ")
	cancel()
	if err != nil {
		return failed("waiting for iperf3 and the echo server in the container", err)
	}

	type measured struct {
		direction string
		res       Iperf3Result
	}
	var throughputs []measured
	for _, direction := range []string{DirectionHostToContainer, DirectionContainerToHost} {
		res, err := runIperf3(ctx, t, hostIperf, netInfo.ContainerIP, iperfPort, cfg.duration, direction)
		if err != nil {
			return failed("iperf3 "+direction, err)
		}
		throughputs = append(throughputs, measured{direction, res})
	}
	lat, err := runPingPong(ctx, t, net.JoinHostPort(netInfo.ContainerIP, strconv.Itoa(echoPort)), cfg)
	if err != nil {
		return failed("tcp round trips", err)
	}
	if lat.TimedOut {
		t.Logf("network %s: the latency test timed out after %d of %d round trips", t.Runtime, lat.Count, lat.Requested)
	}

	if t.Warmup || t.Emit == nil {
		return nil
	}
	params := func(direction string) map[string]string {
		return map[string]string{ParamDirection: direction, ParamStack: netInfo.Stack}
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
	return nil
}

// runIperf3 runs the host's iperf3 client against the server in the container; for
// container-to-host the server sends (-R). The JSON report is kept in the raw directory.
func runIperf3(ctx context.Context, t *bench.Trial, iperf3, ip string, port int, duration time.Duration, direction string) (Iperf3Result, error) {
	secs := int(duration / time.Second)
	args := []string{"--client", ip, "--port", strconv.Itoa(port), "--time", strconv.Itoa(secs), "--json", "--connect-timeout", "5000"}
	if direction == DirectionContainerToHost {
		args = append(args, "--reverse")
	}
	// iperf3 ends by itself after the test; the bound only catches a hung peer.
	runCtx, cancel := context.WithTimeout(ctx, duration+30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, iperf3, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	_ = os.WriteFile(filepath.Join(t.RawDir, "iperf3-"+direction+".json"), stdout.Bytes(), 0o644)
	if stderr.Len() > 0 {
		_ = os.WriteFile(filepath.Join(t.RawDir, "iperf3-"+direction+".stderr"), stderr.Bytes(), 0o644)
	}
	res, err := ParseIperf3(stdout.Bytes())
	if err != nil {
		if runErr != nil {
			return res, fmt.Errorf("%s %s: %w (%v)", iperf3, strings.Join(args, " "), err, runErr)
		}
		return res, err
	}
	if runErr != nil {
		return res, fmt.Errorf("%s %s: %w", iperf3, strings.Join(args, " "), runErr)
	}
	return res, nil
}

// runPingPong runs the probe's TCP client on the host against the echo server in the container.
func runPingPong(ctx context.Context, t *bench.Trial, addr string, cfg settings) (*probe.TCPResult, error) {
	// Generous: even gVisor on ptrace makes thousands of round trips per second.
	bound := 30*time.Second + time.Duration(cfg.roundTrips)*time.Millisecond
	args := []string{probe.Command, "tcp-client", "--connect", addr,
		"--count", strconv.Itoa(cfg.roundTrips), "--size", strconv.Itoa(cfg.messageSize), "--timeout", bound.String()}
	runCtx, cancel := context.WithTimeout(ctx, bound+10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, t.Probe, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	_ = os.WriteFile(filepath.Join(t.RawDir, "tcp-client.json"), stdout.Bytes(), 0o644)
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

// FreeLoopbackPorts picks n distinct ports that nothing listens on at the host's loopback
// (the host driver shares it), below the ephemeral range so outgoing connections do not
// take them meanwhile.
func FreeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n && tries < 200; tries++ {
		p := 20000 + rand.IntN(10000)
		if seen[p] {
			continue
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, errors.New("found no free TCP port between 20000 and 30000 on 127.0.0.1")
	}
	return ports, nil
}

// lineWatch collects a server's output and tells when lines holding given words appeared.
type lineWatch struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLineWatch() *lineWatch { return &lineWatch{changed: make(chan struct{}, 1)} }

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return n, err
}

// Bytes returns a copy of the output so far.
func (w *lineWatch) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// WaitFor returns once every word has appeared at the start of some line, or fails when ctx ends.
func (w *lineWatch) WaitFor(ctx context.Context, words ...string) error {
	for {
		missing := w.missing(words)
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return fmt.Errorf("no line starting with %q in the output: %w", missing, ctx.Err())
		}
	}
}

func (w *lineWatch) missing(words []string) []string {
	found := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(w.Bytes()))
	for sc.Scan() {
		for _, word := range words {
			if strings.HasPrefix(sc.Text(), word) {
				found[word] = true
			}
		}
	}
	var missing []string
	for _, word := range words {
		if !found[word] {
			missing = append(missing, word)
		}
	}
	return missing
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
