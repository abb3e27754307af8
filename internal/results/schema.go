// Package results defines the on-disk format of a run: samples.jsonl, failures.jsonl,
// environment.json and raw/. See docs/results.md for the documented schema.
package results

import "time"

// SchemaVersion is written into every record; readers refuse versions they do not know.
const SchemaVersion = 1

// File names inside a run directory.
const (
	SamplesFile     = "samples.jsonl"
	FailuresFile    = "failures.jsonl"
	EnvironmentFile = "environment.json"
	RawDir          = "raw"
)

// Better says which direction of a metric is an improvement.
type Better string

const (
	Lower  Better = "lower"
	Higher Better = "higher"
)

// Sample is one measured value.
type Sample struct {
	SchemaVersion int               `json:"schema_version"`
	RunID         string            `json:"run_id"`
	Host          string            `json:"host"`
	Runtime       string            `json:"runtime"`
	Benchmark     string            `json:"benchmark"`
	Metric        string            `json:"metric"`
	Unit          string            `json:"unit"`
	Better        Better            `json:"better"`
	Value         float64           `json:"value"`
	Trial         int               `json:"trial"`
	Time          time.Time         `json:"time"`
	Params        map[string]string `json:"params,omitempty"`
	// Info are facts about how the value was measured that do not tell series apart,
	// such as the network stack that served it; reports show them, but do not group by them.
	Info map[string]string `json:"info,omitempty"`
}

// Failure records a trial that did not produce its samples.
type Failure struct {
	SchemaVersion int       `json:"schema_version"`
	RunID         string    `json:"run_id"`
	Host          string    `json:"host"`
	Runtime       string    `json:"runtime"`
	Benchmark     string    `json:"benchmark"`
	Trial         int       `json:"trial"`
	Time          time.Time `json:"time"`
	Error         string    `json:"error"`
	// Stderr holds the tail of the runtime's and workload's stderr.
	Stderr string `json:"stderr,omitempty"`
	// RawPath is where the trial's raw output was kept, relative to the run directory.
	RawPath string `json:"raw_path,omitempty"`
}

// Environment describes the machine and software a run measured.
type Environment struct {
	SchemaVersion int                    `json:"schema_version"`
	RunID         string                 `json:"run_id"`
	Started       time.Time              `json:"started"`
	Finished      time.Time              `json:"finished,omitempty"`
	Host          HostFacts              `json:"host"`
	Runtimes      map[string]RuntimeInfo `json:"runtimes"`
	// Skipped lists runtimes that were asked for but could not run, with the reason.
	Skipped  map[string]string `json:"skipped,omitempty"`
	Image    ImageInfo         `json:"image"`
	Isobench VersionInfo       `json:"isobench"`
	// Config is the full effective configuration of the run.
	Config     any      `json:"config"`
	Benchmarks []string `json:"benchmarks"`
	// Metrics are what the benchmarks declare about their metrics.
	Metrics     []MetricInfo `json:"metrics,omitempty"`
	Baseline    string       `json:"baseline"`
	Interrupted bool         `json:"interrupted,omitempty"`
	// Stopping is present when the run stopped each runtime by a rule (--until-precision).
	Stopping *Stopping `json:"stopping,omitempty"`
	// Labels are what the user named the run by (`isobench run --label runc=1.2.0`), for
	// `history report --by`.
	Labels map[string]string `json:"labels,omitempty"`
}

// HostFacts are the properties of the host that skew results.
type HostFacts struct {
	Hostname    string  `json:"hostname"`
	Kernel      string  `json:"kernel"`
	OS          string  `json:"os"`
	CPUModel    string  `json:"cpu_model"`
	Cores       int     `json:"cores"`
	MemoryBytes uint64  `json:"memory_bytes"`
	Hypervisor  string  `json:"hypervisor,omitempty"` // "" on bare metal
	Virtualized bool    `json:"virtualized"`
	NestedVirt  string  `json:"nested_virt,omitempty"`
	KVM         string  `json:"kvm"`
	CgroupMode  string  `json:"cgroup_mode"` // v1, v2 or hybrid
	SMT         string  `json:"smt"`
	Governor    string  `json:"governor,omitempty"`
	LoadAvg1    float64 `json:"loadavg_1m"`
}

// RuntimeInfo is what a run knew about one runtime profile.
type RuntimeInfo struct {
	Profile  string            `json:"profile"`
	Driver   string            `json:"driver"`
	Class    string            `json:"class"` // process, container, sandbox, vm
	Binary   string            `json:"binary,omitempty"`
	SHA256   string            `json:"sha256,omitempty"`
	Version  string            `json:"version,omitempty"`
	Emulated bool              `json:"emulated,omitempty"`
	Options  map[string]string `json:"options,omitempty"` // e.g. platform=ptrace
}

// ImageInfo identifies the image every runtime ran.
type ImageInfo struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// VersionInfo identifies the isobench build.
type VersionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// MetricInfo is what a benchmark declares about one of its metrics, so that readers of a
// run need not know benchmarks by name.
type MetricInfo struct {
	Benchmark   string `json:"benchmark"`
	Name        string `json:"name"`
	Unit        string `json:"unit"`
	Better      Better `json:"better"`
	Description string `json:"description,omitempty"`
	// Distribution: the whole distribution of its samples matters (reports draw a CDF).
	Distribution bool `json:"distribution,omitempty"`
	// Headline: the one figure that sums the benchmark up (start-up's total); an engine's
	// headline is set against that of the OCI runtime it drives.
	Headline bool `json:"headline,omitempty"`
	// Caveat is what a reader must know before trusting a change in the metric (a
	// host-wide counter that other processes move too), or "".
	Caveat string `json:"caveat,omitempty"`
}

// Metric finds the declaration of a benchmark's metric.
func (e *Environment) Metric(benchmark, name string) (MetricInfo, bool) {
	if e == nil {
		return MetricInfo{}, false
	}
	for _, m := range e.Metrics {
		if m.Benchmark == benchmark && m.Name == name {
			return m, true
		}
	}
	return MetricInfo{}, false
}
