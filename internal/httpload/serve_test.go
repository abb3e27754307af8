package httpload_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/hostcpu"
	"github.com/isobench/isobench/internal/httpload"
)

// loadBench is a benchmark whose settings are a load's, as http's and nginx's are.
type loadBench struct{}

func (loadBench) DefaultSettings(quick bool) any {
	s := httpload.DefaultSettings(quick)
	return &s
}

func TestSettingsKeysAndBounds(t *testing.T) {
	s, err := bench.ReadSettings[httpload.Settings](&bench.Trial{Quick: true, Settings: bench.Settings{"ready_timeout": "5s"}}, loadBench{})
	if err != nil || s.ReadyTimeout.D() != 5*time.Second || s.Concurrency != 8 {
		t.Fatalf("ready_timeout 5s: %+v, %v", s, err)
	}
	if o := s.Options(); o.Concurrency != 8 || o.Duration != 2*time.Second || o.MaxRequests != 5_000_000 {
		t.Errorf("options %+v", o)
	}
	// The one key for the wait is ready_timeout; the unknown one is refused with the allowed named.
	_, err = bench.ReadSettings[httpload.Settings](&bench.Trial{Settings: bench.Settings{"startup_timeout": "5s"}}, loadBench{})
	if err == nil || !strings.Contains(err.Error(), httpload.SettingReadyTimeout) {
		t.Errorf("startup_timeout: %v; want it refused, naming %s", err, httpload.SettingReadyTimeout)
	}
	for _, bad := range []bench.Settings{{"concurrency": 0}, {"concurrency": 10_001}, {"duration": "0s"}, {"max_requests": 0}, {"ready_timeout": "0s"}} {
		if _, err := bench.ReadSettings[httpload.Settings](&bench.Trial{Settings: bad}, loadBench{}); err == nil {
			t.Errorf("%v was taken", bad)
		}
	}
}

func TestNewSiteHoldsTheFilesForEveryone(t *testing.T) {
	files := []httpload.File{{Label: "a", Name: "a.html", Size: 100}, {Label: "b", Name: "b.bin", Size: 5000}}
	dir, err := httpload.NewSite("sitetest", files)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, "www", f.Name))
		if err != nil || len(b) != f.Size || string(b) != string(httpload.Content(f.Size)) {
			t.Errorf("%s: %d bytes, %v", f.Name, len(b), err)
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "www")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, %v", d, fi.Mode(), err)
		}
	}
}

type sample struct {
	metric string
	value  float64
	params map[string]string
}

func TestEmitRecordsWhatMetricsDeclares(t *testing.T) {
	percentiles := []httpload.Percentile{httpload.P50, httpload.P99}
	var names []string
	for _, m := range httpload.Metrics(percentiles...) {
		names = append(names, m.Name)
	}
	want := []string{httpload.MetricRequestsPerSecond, httpload.MetricLatencyP50, httpload.MetricLatencyP99, bench.MetricHostCPUPer1kRequests}
	if !slices.Equal(names, want) {
		t.Fatalf("declared %v, want %v", names, want)
	}

	m := &vegeta.Metrics{Requests: 2000, Success: 0.5, Throughput: 123}
	m.Latencies.P50, m.Latencies.P90, m.Latencies.P99 = 1500*time.Microsecond, 2*time.Millisecond, 3*time.Millisecond
	cpu := bench.HostCPU{Usage: hostcpu.Usage{Seconds: map[string]float64{hostcpu.RoleTotal: 2}}, OK: true}
	served := &httpload.Served{Loads: []httpload.Load{{File: httpload.File{Label: "4KiB"}, Metrics: m, CPU: cpu}}}
	var got []sample
	tr := &bench.Trial{Emit: func(metric string, value float64, params map[string]string) {
		got = append(got, sample{metric, value, params})
	}}
	served.Emit(tr, percentiles...)
	values := map[string]float64{}
	for _, s := range got {
		if s.params[httpload.ParamFile] != "4KiB" {
			t.Errorf("%s without its file: %v", s.metric, s.params)
		}
		if !slices.Contains(want, s.metric) {
			t.Errorf("emitted %s, which is not declared", s.metric)
		}
		values[s.metric] = s.value
	}
	// 2 CPU-s over 1,000 successful requests.
	if values[httpload.MetricRequestsPerSecond] != 123 || values[httpload.MetricLatencyP50] != 1.5 ||
		values[httpload.MetricLatencyP99] != 3 || values[bench.MetricHostCPUPer1kRequests] != 2 {
		t.Errorf("values %v", values)
	}
}
