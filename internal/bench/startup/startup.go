// Package startup measures how long a fresh container takes through each lifecycle step.
package startup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Marker is what the trivial workload prints; its first byte marks "workload running".
const Marker = "isobench-ready"

func init() { bench.Register(Startup{}) }

// Startup runs one fresh container per trial that prints a marker and exits.
type Startup struct{}

func (Startup) Name() string { return "startup" }

func (Startup) Description() string {
	return "a fresh container per trial running `echo`: create, start to first output, start to exit, delete, total"
}

// VM drivers report finer boot phases (runtime.VMPhases); they appear as phase_<name>.
var vmPhases = runtime.VMPhases

// Pods report the steps the client's watch saw (monotonic clock, including the watch's
// delay) and the first output by the node's log timestamp.
var podPhases = [][2]string{
	{"scheduled", "the watch saw the pod bound to a node (absent with direct binding)"},
	{"sandbox_ready", "the watch saw PodReadyToStartContainers (sandbox and network ready)"},
	{"container_started", "the watch saw the container running"},
	{"first_output", "the node's CRI log stamped the first output line"},
	{"exited", "the watch saw the container terminated"},
}

func (Startup) Metrics() []bench.Metric {
	m := []bench.Metric{
		{Name: "create", Unit: "ms", Better: results.Lower, Description: "until the runtime's create returned (not for host, which has no create step)"},
		{Name: "start", Unit: "ms", Better: results.Lower, Description: "until the runtime's start returned"},
		{Name: "start_to_output", Unit: "ms", Better: results.Lower, Description: "from start until the workload's first output"},
		{Name: "start_to_exit", Unit: "ms", Better: results.Lower, Description: "from start until the workload exited"},
		{Name: "delete", Unit: "ms", Better: results.Lower, Description: "until the runtime's delete returned (not for host)"},
		{Name: "total", Unit: "ms", Better: results.Lower, Description: "from create until delete returned", Headline: true},
	}
	for _, p := range vmPhases {
		m = append(m, bench.Metric{Name: "phase_" + p, Unit: "ms", Better: results.Lower, Description: "VMs only: from start until " + strings.ReplaceAll(p, "_", " ")})
	}
	for _, p := range podPhases {
		m = append(m, bench.Metric{Name: "phase_" + p[0], Unit: "ms", Better: results.Lower, Description: "Kubernetes pods only: from the create request (the pod then starts on its own) until " + p[1]})
	}
	// Start-up times have long tails: every one is drawn as a distribution.
	for i := range m {
		m[i].Distribution = true
	}
	return m
}

func (Startup) Tools() []string { return []string{"echo"} }

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// Run implements bench.Benchmark.
func (Startup) Run(ctx context.Context, t *bench.Trial) error {
	out, err := bench.RunToExit(ctx, t.Driver, runtime.Spec{
		ID:     t.NewID(),
		Args:   []string{"echo", Marker},
		RawDir: t.RawDir,
	})
	if out != nil {
		err = errors.Join(err, t.KeepRaw("stdout", out.Stdout), t.KeepRaw("stderr", out.Stderr))
	}
	if err != nil {
		return err
	}
	if !strings.Contains(string(out.Stdout), Marker) {
		return fmt.Errorf("the workload did not print %q (got %q)", Marker, out.Stdout)
	}
	tm := out.Timings
	if !tm.NoCreate {
		t.Emit("create", ms(tm.Create), nil)
	}
	t.Emit("start", ms(tm.Start), nil)
	t.Emit("start_to_output", ms(tm.StartToOutput), nil)
	t.Emit("start_to_exit", ms(tm.StartToExit), nil)
	if !tm.NoDelete {
		t.Emit("delete", ms(tm.Delete), nil)
	}
	t.Emit("total", ms(tm.Total), nil)
	for _, p := range tm.Phases {
		t.Emit("phase_"+p.Name, ms(p.Since), nil)
	}
	return nil
}
