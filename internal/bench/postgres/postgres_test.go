package postgres_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/bench/postgres"
	"github.com/isobench/isobench/internal/image/imagetest"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
)

func TestParseOutput(t *testing.T) {
	res, err := postgres.ParseOutput(benchtest.Testdata(t, "pgbench-read-only.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !(res.TPS > 0) || res.Transactions < 1 {
		t.Fatalf("result %+v", res)
	}
	for _, bad := range []string{
		"",
		"tps = 0.000000 (without initial connection time)\nnumber of transactions actually processed: 10\n",
		"tps = 100.0 (without initial connection time)\n",
		"tps = 100.0 (without initial connection time)\nnumber of transactions actually processed: 10\nnumber of failed transactions: 2 (16.667%)\n",
	} {
		if _, err := postgres.ParseOutput([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestReadLog(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tx.1")
	if err := os.WriteFile(good, []byte("0 0 1234 0 1700000000 1\n1 0 99 0 1700000000 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lat, err := postgres.ReadLog(good)
	if err != nil || len(lat) != 2 || lat[0] != 1234 {
		t.Fatalf("got %v, %v", lat, err)
	}
	bad := filepath.Join(dir, "tx.2")
	if err := os.WriteFile(bad, []byte("0 0 failed 0 1700000000 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.ReadLog(bad); err == nil {
		t.Fatal("a failed transaction's line was read as a latency")
	}
}

func TestBadSettings(t *testing.T) {
	for _, s := range []bench.Settings{{"duration": "1500ms"}, {"clients": 500}, {"scale": 0}, {"mode": "x"}} {
		into := postgres.Benchmark{}.DefaultSettings(true)
		if err := s.Decode(into); err == nil {
			t.Errorf("settings %v accepted", s)
		}
	}
}

// TestPostgresUnderHostRuncRunsc runs both modes on each runtime with the server in the
// runtime and pgbench on the host.
func TestPostgresUnderHostRuncRunsc(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs PostgreSQL in containers")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	img := imagetest.Default(t)
	all := benchtest.RunOn(t, []string{"host", "runc", "runsc"}, postgres.Benchmark{}, img, bench.Settings{"duration": "2s", "clients": 2}, "")
	for rt, samples := range all {
		tps := map[string]float64{}
		for _, s := range samples {
			if s.Metric == postgres.MetricTPS {
				tps[s.Params[postgres.ParamMode]] = s.Value
				if s.Value < 5 || s.Value > 1_000_000 {
					t.Errorf("%s %v: %v tx/s is implausible", rt, s.Params, s.Value)
				}
			}
		}
		if len(tps) != 2 {
			t.Errorf("%s: modes measured %v, want read-only and tpc-b", rt, tps)
		}
	}
}
