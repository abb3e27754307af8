package nginx_test

import (
	"os"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/bench/nginx"
	"github.com/isobench/isobench/internal/httpload"
	"github.com/isobench/isobench/internal/image/imagetest"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
)

func TestConfigListensWhereAsked(t *testing.T) {
	if c := nginx.Config("198.18.0.2", 8080); !strings.Contains(c, "listen 198.18.0.2:8080;") {
		t.Fatalf("container address: %s", c)
	}
	if c := nginx.Config("0.0.0.0", 8080); !strings.Contains(c, "listen 8080;") {
		t.Fatalf("every address: %s", c)
	}
}

// TestNginxUnderHostRuncRunsc serves the files from each runtime and checks the numbers
// and where the host CPU went: to runsc's sandbox, and for runc to the workload alone
// (it has no shim; anything else beyond a small share would be misattributed).
func TestNginxUnderHostRuncRunsc(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs nginx in containers")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	img := imagetest.Default(t)
	all := benchtest.RunOn(t, []string{"host", "runc", "runsc"}, nginx.Benchmark{}, img, bench.Settings{"duration": "2s", "concurrency": 4}, "")
	for rt, samples := range all {
		cost := map[string]map[string]float64{} // file -> role -> CPU-s per 1k requests
		for _, s := range samples {
			switch s.Metric {
			case httpload.MetricRequestsPerSecond:
				if s.Value < 20 || s.Value > 1_000_000 {
					t.Errorf("%s %v: %v requests/s is implausible", rt, s.Params, s.Value)
				}
			case bench.MetricHostCPUPer1kRequests:
				f := s.Params[httpload.ParamFile]
				if cost[f] == nil {
					cost[f] = map[string]float64{}
				}
				cost[f][s.Params[bench.ParamRole]] = s.Value
			}
		}
		for f, roles := range cost {
			total := roles["total"]
			if !(total > 0) || total > 20 {
				t.Errorf("%s %s: total %v CPU-s per 1k requests", rt, f, total)
			}
			switch rt {
			case "runsc":
				if roles["sandbox"] < 0.5*total {
					t.Errorf("runsc %s: sandbox took %v of %v CPU-s per 1k requests; the Sentry serves every request", f, roles["sandbox"], total)
				}
			case "runc", "host":
				if other := total - roles["workload"]; other > 0.05*total {
					t.Errorf("%s %s: %v of %v CPU-s outside the workload (roles %v)", rt, f, other, total, roles)
				}
			}
		}
	}
}
