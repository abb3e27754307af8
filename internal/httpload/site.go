package httpload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/hostcpu"
)

// What every load reports: metric names, and the parameter naming the file loaded.
const (
	MetricRequestsPerSecond = "requests_per_second"
	MetricLatencyP50        = "latency_p50"
	MetricLatencyP90        = "latency_p90"
	MetricLatencyP99        = "latency_p99"
	ParamFile               = "file"
)

// File is one document a web server serves to the load.
type File struct {
	// Label is the file parameter of its samples.
	Label string
	Name  string
	Size  int
}

// NewSite makes a temporary directory (its name says it is the named benchmark's) with
// the files under www/, the whole tree world-readable for the server's workers. The
// caller removes it.
func NewSite(name string, files []File) (dir string, err error) {
	dir, err = bench.NewBindDir(name)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	www := filepath.Join(dir, "www")
	if err := os.Mkdir(www, 0o755); err != nil {
		return "", fmt.Errorf("making the site directory: %w", err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(www, f.Name), Content(f.Size), 0o644); err != nil {
			return "", fmt.Errorf("writing %s: %w", f.Name, err)
		}
	}
	return dir, nil
}

// Load is what loading one file measured.
type Load struct {
	File    File
	Metrics *vegeta.Metrics
	// CPU is the host CPU the server's runtime took meanwhile; CPUOK is false when it
	// could not be read.
	CPU   hostcpu.Usage
	CPUOK bool
}

// Succeeded is the number of requests that were answered as they should be.
func (l Load) Succeeded() float64 { return float64(l.Metrics.Requests) * l.Metrics.Success }

// LoadEach loads each file from the server at baseURL in turn, metering the host CPU
// its runtime takes, and keeps vegeta's report of each in the trial's raw directory
// (vegeta-LABEL.json).
func LoadEach(ctx context.Context, t *bench.Trial, srv *bench.ServerContainer, baseURL string, files []File, o Options) ([]Load, error) {
	var loads []Load
	for _, f := range files {
		cpu := bench.StartCPU(ctx, t, srv, "loading "+f.Name)
		m, err := Attack(ctx, baseURL+f.Name, f.Size, o)
		if m != nil {
			if werr := WriteReport(filepath.Join(t.RawDir, "vegeta-"+f.Label+".json"), m); werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			return nil, srv.Failed("loading "+f.Name, err)
		}
		usage, ok := cpu.Stop(ctx)
		loads = append(loads, Load{File: f, Metrics: m, CPU: usage, CPUOK: ok})
	}
	return loads, nil
}
