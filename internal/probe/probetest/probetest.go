// Package probetest gives benchmark tests the static isobench binary (for Trial.Probe) and
// runs one quick trial of a benchmark on every built-in runtime usable here.
package probetest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/probe"
	"github.com/isobench/isobench/internal/runtime"
)

// Runtimes are the built-in profiles RunOnRuntimes tries, each skipped when not usable.
var Runtimes = []string{"host", "runc", "crun", "runsc"}

// Binary builds cmd/isobench with CGO_ENABLED=0 into a temporary directory and returns its
// path. It skips the test when the go tool is missing or the binary has no probe mode yet.
func Binary(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH: cannot build the static isobench binary")
	}
	bin := filepath.Join(t.TempDir(), "isobench")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/isobench/isobench/cmd/isobench")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building static isobench: %v\n%s", err, out)
	}
	if err := probe.CheckStatic(bin); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, probe.Command, "marker").Output()
	if err != nil || strings.TrimSpace(string(out)) != probe.Marker {
		t.Skipf("cmd/isobench does not dispatch `isobench probe` to probe.Main yet (probe marker: %v, %q)", err, out)
	}
	return bin
}

// Sample is one value a trial emitted.
type Sample struct {
	Metric string
	Value  float64
	Params map[string]string
}

var ids atomic.Int64

// RunOnRuntimes runs one quick measured trial of b on each of Runtimes with img and checks
// that every metric b declares was emitted with positive, finite values. probeBin is the
// static isobench binary for Trial.Probe ("" when b does not need it). It returns the
// samples by runtime.
func RunOnRuntimes(t *testing.T, b bench.Benchmark, img *image.Image, settings bench.Settings, probeBin string) map[string][]Sample {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	all := map[string][]Sample{}
	for _, name := range Runtimes {
		t.Run(name, func(t *testing.T) {
			d := prepared(t, name, img)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			rootfs, err := img.RootFS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, tool := range b.Tools() {
				if ok, err := img.HasTool(ctx, tool); err != nil || !ok {
					t.Fatalf("image %s lacks %s (%v)", img.Name, tool, err)
				}
			}
			var got []Sample
			runDir := t.TempDir()
			rawDir := filepath.Join(runDir, "raw", name)
			if err := os.MkdirAll(rawDir, 0o755); err != nil {
				t.Fatal(err)
			}
			trial := &bench.Trial{
				Driver: d, Image: img, RootFS: rootfs, Runtime: name,
				Index: 1, Quick: true, Settings: settings,
				RawDir: rawDir, RunDir: runDir,
				NewID: func() string {
					return fmt.Sprintf("%stest-%s-%d-%d", runtime.NamePrefix, b.Name(), os.Getpid(), ids.Add(1))
				},
				Probe: probeBin,
				Emit: func(metric string, v float64, params map[string]string) {
					got = append(got, Sample{metric, v, params})
				},
				Logf: t.Logf,
			}
			if err := b.Run(ctx, trial); err != nil {
				t.Fatalf("%s on %s: %v\nstderr: %s\nraw output:%s", b.Name(), name, err, bench.StderrOf(err), listRaw(rawDir))
			}
			CheckSamples(t, b, got)
			for _, s := range got {
				t.Logf("%s %s %v %v", name, s.Metric, s.Value, s.Params)
			}
			all[name] = got
		})
	}
	return all
}

// CheckSamples fails the test unless every metric of b has a sample, and every sample
// names a declared metric and holds a positive, finite value.
func CheckSamples(t testing.TB, b bench.Benchmark, got []Sample) {
	t.Helper()
	declared := map[string]bool{}
	for _, m := range b.Metrics() {
		declared[m.Name] = false
	}
	for _, s := range got {
		if _, ok := declared[s.Metric]; !ok {
			t.Errorf("emitted undeclared metric %q", s.Metric)
			continue
		}
		declared[s.Metric] = true
		if !(s.Value > 0) || math.IsInf(s.Value, 0) {
			t.Errorf("%s %v = %v: not positive and finite", s.Metric, s.Params, s.Value)
		}
	}
	for m, seen := range declared {
		if !seen {
			t.Errorf("metric %s was never emitted", m)
		}
	}
}

func prepared(t *testing.T, name string, img *image.Image) runtime.Driver {
	t.Helper()
	var prof *runtime.Profile
	for _, p := range runtime.Builtins() {
		if p.Name == name {
			prof = &p
		}
	}
	if prof == nil {
		t.Skipf("no built-in profile %q (is its driver package imported?)", name)
	}
	env := runtime.Env{Home: imagetest.Home(t), Subnet: netip.MustParsePrefix("198.18.0.0/15")}
	d, err := runtime.New(*prof, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if st := d.Check(ctx); !st.Usable {
		t.Skipf("%s not usable here: %s (fix: %s)", name, st.Problem, st.Fix)
	}
	if err := d.Prepare(ctx, img); err != nil {
		t.Fatalf("preparing %s: %v", name, err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

// listRaw names the raw files with the tail of each, for failure messages.
func listRaw(dir string) string {
	entries, _ := os.ReadDir(dir)
	var b bytes.Buffer
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "\n--- %s\n%s", e.Name(), data)
	}
	return b.String()
}
