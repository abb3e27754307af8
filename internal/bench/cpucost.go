package bench

import (
	"context"

	"github.com/isobench/isobench/internal/hostcpu"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// ParamRole names, in a host CPU cost sample, the role of the processes it sums
// (hostcpu.RoleTotal for all of them).
const ParamRole = "role"

// Host CPU cost metrics: host CPU seconds taken by everything the runtime started for the
// workload, per unit of the work the benchmark measured.
const (
	MetricHostCPUPer1kRequests = "host_cpu_per_1k_requests"
	MetricHostCPUPerGbit       = "host_cpu_per_gbit"
	MetricHostCPUPerGiB        = "host_cpu_per_gib"
	MetricHostCPUPer1kTx       = "host_cpu_per_1k_transactions"
)

// CPUCostMetric declares a host CPU cost metric per unit.
func CPUCostMetric(name, unit string) Metric {
	return Metric{Name: name, Unit: "CPU-s/" + unit, Better: results.Lower,
		Description: "host CPU seconds taken by every process the runtime started for the workload (workload, shim, sandbox, gofer, VMM), per " + unit + "; role tells them apart (a role below 10 ms of CPU has no sample)"}
}

// HostCPU is the host CPU a container's processes took over one section. OK is false
// when the accounting could not be read (the reason was logged): then there is no cost.
type HostCPU struct {
	hostcpu.Usage
	OK bool
}

// EmitCPUCost emits cpu per unit of work, once per role and once in all (role total);
// params are copied. Nothing is emitted for no work: a ratio to nothing means nothing.
// A role whose processes took less than the accounting's resolution (one clock tick,
// 10 ms) has no sample: it was not measured as zero, it was too small to measure.
func EmitCPUCost(t *Trial, metric string, cpu HostCPU, work float64, params map[string]string) {
	if t.Emit == nil || !cpu.OK || !(work > 0) {
		return
	}
	for _, role := range cpu.Roles() {
		if !(cpu.Seconds[role] > 0) {
			continue
		}
		p := map[string]string{ParamRole: role}
		for k, v := range params {
			p[k] = v
		}
		t.Emit(metric, cpu.Seconds[role]/work, p)
	}
}

// CPUMeter measures the host CPU a container's processes take over one section. A
// reading that fails is logged and leaves the section without a cost: the benchmark's
// other results stand, and no cost figure is made up.
type CPUMeter struct {
	t      *Trial
	c      runtime.Container
	what   string
	before *hostcpu.Snapshot
}

// StartCPU reads the accounting at the start of a section (what names it in logs).
func StartCPU(ctx context.Context, t *Trial, c runtime.Container, what string) *CPUMeter {
	m := &CPUMeter{t: t, c: c, what: what}
	before, err := hostcpu.Take(ctx, c)
	if err != nil {
		m.log(err)
		return m
	}
	m.before = before
	return m
}

// Stop reads the accounting at the end of the section; the result is not OK when either
// reading failed.
func (m *CPUMeter) Stop(ctx context.Context) HostCPU {
	if m.before == nil {
		return HostCPU{}
	}
	after, err := hostcpu.Take(ctx, m.c)
	if err != nil {
		m.log(err)
		return HostCPU{}
	}
	return HostCPU{Usage: hostcpu.Since(m.before, after), OK: true}
}

func (m *CPUMeter) log(err error) {
	if m.t.Logf != nil {
		m.t.Logf("%s %s: no host CPU cost for %s: %v", m.t.Runtime, m.c.ID(), m.what, err)
	}
}
