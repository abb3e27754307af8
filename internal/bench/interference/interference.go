// Package interference measures what isolation buys: how much a victim workload in the
// runtime under test slows down while aggressor containers of some runtime run beside it
// (CPU hog, memory-bandwidth hog, disk-I/O hog, network hog, fork storm), with the CPU
// sets and memory limits of both stated and recorded. The victim is a CPU-bound
// computation (sysbench cpu, events per second) and a latency probe (TCP request/response
// round trips from a client on the host to an echo server in the victim's container).
// Slowdowns are the victim's measurement alone over the same measurement beside the
// aggressors, for every aggressor runtime asked for.
package interference

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/probe"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "interference"

// Metric names.
const (
	// MetricSlowdown is the victim's measurement beside the aggressors relative to alone,
	// oriented so that above 1 is slower.
	MetricSlowdown = "slowdown"
	// MetricVictimCPURate is the CPU victim's events per second (aggressor none: alone).
	MetricVictimCPURate = "victim_cpu_rate"
	// MetricVictimLatencyP99 is the latency victim's 99th percentile round trip.
	MetricVictimLatencyP99 = "victim_latency_p99"
)

// Parameters of the samples.
const (
	ParamVictim           = "victim"
	ParamAggressor        = "aggressor"
	ParamAggressorRuntime = "aggressor_runtime"
	ParamCount            = "count"
	ParamPlacement        = "placement"

	// Victims, as ParamVictim of slowdown samples.
	VictimCPU        = "cpu"
	VictimLatencyP50 = "latency_p50"
	VictimLatencyP99 = "latency_p99"

	// AggressorNone marks the victim's measurements alone.
	AggressorNone = "none"
)

// Info keys: the CPU sets and limits of the trial.
const (
	InfoVictimCPUs      = "victim_cpus"
	InfoVictimMemory    = "victim_memory"
	InfoAggressorMemory = "aggressor_memory"
	// InfoPlacementPrefix + placement names the cpuset of that placement.
	InfoPlacementPrefix = "aggressor_cpus_"
)

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "noisy neighbours: a CPU victim and a TCP latency victim in the runtime, alone and beside K aggressor containers (cpu, memory, disk, network, fork) of each runtime, on stated CPU sets; slowdown = alone / beside"
}

func (Benchmark) Metrics() []bench.Metric {
	return []bench.Metric{
		{Name: MetricSlowdown, Unit: "ratio", Better: results.Lower, Description: "victim's measurement beside the aggressors over alone, above 1 is slower: cpu (events/s alone over beside), latency_p50/latency_p99 (beside over alone)"},
		{Name: MetricVictimCPURate, Unit: "events/s", Better: results.Higher, Description: "sysbench cpu events per second of the victim, one thread on the victim's CPUs"},
		{Name: MetricVictimLatencyP99, Unit: "us", Better: results.Lower, Description: "99th percentile TCP round trip, host client (on the victim's CPUs) to echo server in the victim's container"},
	}
}

// Tools lists every tool a victim or aggressor runs in the image.
func (Benchmark) Tools() []string {
	tools := []string{"sh", "sysbench"}
	seen := map[string]bool{"sh": true, "sysbench": true}
	for _, k := range Kinds {
		for _, tool := range k.Tools {
			if !seen[tool] {
				seen[tool] = true
				tools = append(tools, tool)
			}
		}
	}
	return tools
}

// measurement is the victims' results under one condition.
type measurement struct {
	cpuRate  float64
	latency  probe.TCPResult
	label    string
	kind     string
	runtime  string
	count    int
	placemnt string
}

// Run measures the victims alone, then beside each set of aggressors.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) (err error) {
	cfg, err := readSettings(t)
	if err != nil {
		return err
	}
	if t.Probe == "" {
		return fmt.Errorf("no probe binary to bind at %s", bench.ProbePath)
	}
	iperf3 := ""
	for _, k := range cfg.kinds {
		if k.Network {
			if iperf3, err = bench.HostTool("iperf3", "iperf3"); err != nil {
				return err
			}
		}
	}
	if t.Info != nil {
		t.Info[InfoVictimCPUs] = cfg.victimCPUs
		t.Info[InfoVictimMemory] = memString(cfg.victimMem)
		t.Info[InfoAggressorMemory] = memString(cfg.aggressorMem)
		for _, p := range cfg.placements {
			t.Info[InfoPlacementPrefix+p.label] = p.cpus
		}
	}
	victimRes := runtime.Resources{CPUs: cfg.victimCPUs, MemoryBytes: cfg.victimMem}

	echo, err := bench.StartServer(ctx, t, bench.ServerSpec{
		Name:      "victim-echo",
		Script:    fmt.Sprintf(`exec %s %s tcp-server --listen "$LISTEN:$PORT"`, bench.ProbePath, probe.Command),
		Mounts:    []runtime.Mount{{Type: "bind", Source: t.Probe, Destination: bench.ProbePath, ReadOnly: true}},
		Resources: victimRes,
	})
	defer echo.Remove(ctx, &err)
	if err != nil {
		return err
	}

	measure := func(label string) (measurement, error) {
		m := measurement{label: label}
		rate, err := cpuVictim(ctx, t, label, victimRes, cfg)
		if err != nil {
			return m, fmt.Errorf("cpu victim %s: %w", label, err)
		}
		lat, err := latencyVictim(ctx, t, label, echo.Addr, cfg)
		if err != nil {
			return m, echo.Failed("latency victim "+label, err)
		}
		m.cpuRate, m.latency = rate, *lat
		return m, nil
	}

	// The victims alone are measured at the start, half-way and at the end; the reference
	// is the median of the three, so that neither a slow drift of the machine nor one
	// disturbed measurement is taken for interference (or hides it).
	var alones []measurement
	first, err := measure("alone-first")
	if err != nil {
		return err
	}
	alones = append(alones, first)
	type condition struct {
		rt    string
		pl    placement
		kind  Kind
		count int
	}
	var conds []condition
	for _, rt := range cfg.runtimes {
		for _, pl := range cfg.placements {
			for _, kind := range cfg.kinds {
				for _, count := range cfg.counts {
					conds = append(conds, condition{rt, pl, kind, count})
				}
			}
		}
	}
	var beside []measurement
	for i, c := range conds {
		if i == len(conds)/2 {
			mid, err := measure("alone-middle")
			if err != nil {
				return err
			}
			alones = append(alones, mid)
		}
		d, err := peer(t, c.rt)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("%s-%s-%s-%d", c.kind.Name, c.rt, c.pl.label, c.count)
		m, err := besideAggressors(ctx, t, d, c.rt, c.kind, c.count, c.pl, cfg, iperf3, label, measure)
		if err != nil {
			return err
		}
		beside = append(beside, m)
	}
	last, err := measure("alone-last")
	if err != nil {
		return err
	}
	alones = append(alones, last)
	alone := reference(alones)
	t.Logf("interference %s: alone %.0f events/s, p99 %.0f us (median of %d)", t.Runtime, alone.cpuRate, alone.latency.P99us, len(alones))

	if t.Emit == nil {
		return nil
	}
	t.Emit(MetricVictimCPURate, alone.cpuRate, map[string]string{ParamAggressor: AggressorNone})
	t.Emit(MetricVictimLatencyP99, alone.latency.P99us, map[string]string{ParamAggressor: AggressorNone})
	for _, m := range beside {
		p := func(victim string) map[string]string {
			out := map[string]string{ParamAggressor: m.kind, ParamAggressorRuntime: m.runtime,
				ParamCount: strconv.Itoa(m.count), ParamPlacement: m.placemnt}
			if victim != "" {
				out[ParamVictim] = victim
			}
			return out
		}
		t.Emit(MetricVictimCPURate, m.cpuRate, p(""))
		t.Emit(MetricVictimLatencyP99, m.latency.P99us, p(""))
		t.Emit(MetricSlowdown, alone.cpuRate/m.cpuRate, p(VictimCPU))
		t.Emit(MetricSlowdown, m.latency.P50us/alone.latency.P50us, p(VictimLatencyP50))
		t.Emit(MetricSlowdown, m.latency.P99us/alone.latency.P99us, p(VictimLatencyP99))
	}
	return nil
}

// reference is the victims' measurement alone: per value the median of the measurements.
func reference(ms []measurement) measurement {
	med := func(get func(measurement) float64) float64 {
		v := make([]float64, len(ms))
		for i, m := range ms {
			v[i] = get(m)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	r := ms[0]
	r.cpuRate = med(func(m measurement) float64 { return m.cpuRate })
	r.latency.P50us = med(func(m measurement) float64 { return m.latency.P50us })
	r.latency.P99us = med(func(m measurement) float64 { return m.latency.P99us })
	return r
}

// besideAggressors starts the aggressors, lets them settle, measures the victims, checks
// that every aggressor still runs, and removes them all whatever happened.
func besideAggressors(ctx context.Context, t *bench.Trial, d runtime.Driver, rt string, kind Kind, count int, pl placement,
	cfg config, iperf3, label string, measure func(string) (measurement, error)) (m measurement, err error) {
	g := &group{}
	defer func() {
		if serr := g.stop(ctx, t.RawDir, label); serr != nil && err == nil {
			err = serr
		}
	}()
	res := runtime.Resources{CPUs: pl.cpus, MemoryBytes: cfg.aggressorMem}
	if err := g.start(ctx, t, d, rt, kind, count, res, iperf3); err != nil {
		return m, err
	}
	select {
	case <-ctx.Done():
		return m, ctx.Err()
	case <-time.After(cfg.settle):
	}
	if err := g.alive(); err != nil {
		return m, err
	}
	m, err = measure(label)
	if err != nil {
		return m, err
	}
	if err := g.alive(); err != nil {
		return m, err
	}
	m.kind, m.runtime, m.count, m.placemnt = kind.Name, rt, count, pl.label
	return m, nil
}

var eventsPerSecond = regexp.MustCompile(`(?m)^\s*events per second:\s*([0-9.]+)\s*$`)

// cpuVictim runs sysbench cpu, one thread, for the victim time in a container of the
// runtime under test, and returns its events per second.
func cpuVictim(ctx context.Context, t *bench.Trial, label string, res runtime.Resources, cfg config) (float64, error) {
	secs := strconv.Itoa(int(cfg.victimTime / time.Second))
	out, err := bench.RunToExitSaved(ctx, t, "victim-cpu-"+label, runtime.Spec{
		ID:        t.NewID(),
		Args:      []string{"sysbench", "cpu", "--threads=1", "--time=" + secs, "run"},
		RawDir:    t.RawDir,
		Resources: res,
	})
	if err != nil {
		return 0, err
	}
	return ParseEventsPerSecond(out.Stdout)
}

// ParseEventsPerSecond reads sysbench's "events per second:" line.
func ParseEventsPerSecond(out []byte) (float64, error) {
	m := eventsPerSecond.FindSubmatch(out)
	if m == nil {
		return 0, errors.New(`sysbench printed no "events per second:" line`)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || !(v > 0) || v > 1e12 {
		return 0, fmt.Errorf("sysbench events per second %q is not a plausible number", m[1])
	}
	return v, nil
}

// latencyVictim runs the probe's TCP client on the host, pinned to the victim's CPUs,
// against the echo server in the victim's container.
func latencyVictim(ctx context.Context, t *bench.Trial, label, addr string, cfg config) (*probe.TCPResult, error) {
	bound := 30*time.Second + time.Duration(cfg.roundTrips)*time.Millisecond
	runCtx, cancel := context.WithTimeout(ctx, bound+10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, t.Probe, probe.Command, "tcp-client", "--connect", addr,
		"--count", strconv.Itoa(cfg.roundTrips), "--size", "1", "--timeout", bound.String())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := runtime.StartPinned(cmd, cfg.victimCPUs); err != nil {
		return nil, fmt.Errorf("starting the probe's tcp-client: %w", err)
	}
	runErr := cmd.Wait()
	if err := t.KeepRaw("victim-latency-"+label+".json", stdout.Bytes()); err != nil {
		return nil, err
	}
	if runErr != nil {
		return nil, fmt.Errorf("probe tcp-client: %w: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	var res probe.TCPResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		return nil, fmt.Errorf("probe tcp-client output is not its JSON result: %w", err)
	}
	if res.TimedOut || res.Count < 1 || !(res.P50us > 0) || !(res.P99us >= res.P50us) {
		return nil, fmt.Errorf("probe tcp-client made %d of %d round trips in time (p50 %v us, p99 %v us): no result", res.Count, res.Requested, res.P50us, res.P99us)
	}
	return &res, nil
}

func memString(b int64) string {
	if b == 0 {
		return "none"
	}
	return fmt.Sprintf("%dMiB", b>>20)
}
