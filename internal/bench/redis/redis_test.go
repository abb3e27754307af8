package redis_test

import (
	"os"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/bench/redis"
	"github.com/isobench/isobench/internal/image/imagetest"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
)

func TestParseCSV(t *testing.T) {
	rows, err := redis.ParseCSV(benchtest.Testdata(t, "redis-benchmark-P1.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Test != "SET" || rows[1].Test != "GET" {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if !(r.RPS > 0) || !(r.P99ms >= r.P50ms) || !(r.P50ms > 0) {
			t.Errorf("implausible row %+v", r)
		}
	}
	for _, bad := range []string{
		"",
		`"test","rps"` + "\n" + `"SET","1"` + "\n",
		`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n" + `"SET","NaN","0.1","0.1","0.1","0.1","0.1","0.1"` + "\n",
		`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n" + `"SET","100","0.1","0.1","0.5","0.1","0.2","0.1"` + "\n",
		`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n",
	} {
		if _, err := redis.ParseCSV([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestBadSettings(t *testing.T) {
	for _, s := range []bench.Settings{{"pipeline": 1}, {"requests": 0}, {"clients": 20000}, {"depth": 3}} {
		into := redis.Benchmark{}.DefaultSettings(true)
		if err := s.Decode(into); err == nil {
			t.Errorf("settings %v accepted", s)
		}
	}
}

// TestRedisUnderHostRuncRunsc runs a small trial on each runtime: redis-server in the
// runtime, redis-benchmark on the host, numbers in a plausible range, and the host CPU
// the runtime took attributed to its processes.
func TestRedisUnderHostRuncRunsc(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs redis-server in containers")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	img := imagetest.Default(t)
	all := benchtest.RunOn(t, []string{"host", "runc", "runsc"}, redis.Benchmark{}, img, bench.Settings{"requests": 5000, "clients": 8}, "")
	for rt, samples := range all {
		roles := map[string]bool{}
		for _, s := range samples {
			switch s.Metric {
			case redis.MetricRequestsPerSecond:
				if s.Value < 100 || s.Value > 10_000_000 {
					t.Errorf("%s %v: %v requests/s is implausible", rt, s.Params, s.Value)
				}
			case redis.MetricLatencyP99:
				if s.Value > 10_000 {
					t.Errorf("%s %v: p99 %v ms is implausible", rt, s.Params, s.Value)
				}
			case bench.MetricHostCPUPer1kRequests:
				roles[s.Params[bench.ParamRole]] = true
				// 1,000 requests cannot take more than a few CPU seconds anywhere.
				if s.Value > 5 {
					t.Errorf("%s %v: %v CPU-s per 1k requests is implausible", rt, s.Params, s.Value)
				}
			}
		}
		if !roles["total"] {
			t.Errorf("%s: no total host CPU cost", rt)
		}
		if rt == "runsc" && !roles["sandbox"] {
			t.Errorf("runsc: no host CPU attributed to the sandbox (roles %v)", keys(roles))
		}
	}
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ",")
}
