// Package benchtest gives benchmark tests the static isobench binary (for Trial.Probe),
// prepared drivers for built-in profiles, recorded outputs under testdata/, one quick
// trial of a benchmark on every built-in runtime usable here, and checks that a trial
// left nothing behind.
package benchtest

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
	"github.com/isobench/isobench/internal/testutil/testbin"
)

// Runtimes are the built-in profiles RunOnRuntimes tries, each skipped when not usable.
// qemu-microvm runs under TCG where KVM cannot run ordinary guests: slow, but every
// benchmark then runs inside a real VM through the guest agent.
var Runtimes = []string{"host", "runc", "crun", "runsc", "qemu-microvm"}

// Binary returns the static isobench binary (built once per test process by testbin). It
// skips the test when the go tool is missing and fails it when the binary has no probe mode.
func Binary(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not in PATH: cannot build the static isobench binary")
	}
	bin := testbin.Build(t)
	if err := probe.CheckStatic(bin); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, probe.Command, "marker").Output()
	if err != nil || strings.TrimSpace(string(out)) != probe.Marker {
		t.Fatalf("the static isobench binary does not answer `isobench probe marker` (%v, %q): cmd/isobench must dispatch the probe mode", err, out)
	}
	return bin
}

// Testdata returns the recorded output testdata/name of the package under test.
func Testdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// UsableDriver returns a driver for the built-in profile name. It skips the test when the
// driver is not usable here and fails it when there is no such profile (a typo).
func UsableDriver(t testing.TB, name string) runtime.Driver {
	t.Helper()
	for _, p := range runtime.Builtins() {
		if p.Name != name {
			continue
		}
		// A microVM's guest agent must be the static isobench binary, not this test binary.
		d, err := runtime.New(p, runtime.Env{Home: imagetest.Home(t), Subnet: netip.MustParsePrefix("198.18.0.0/15"), Agent: Binary(t)})
		if err != nil {
			t.Fatal(err)
		}
		if st := d.Check(context.Background()); !st.Usable {
			t.Skipf("%s not usable here: %s (fix: %s)", name, st.Problem, st.Fix)
		}
		return d
	}
	t.Fatalf("no built-in profile %q: a typo, or its driver package is not imported by the test", name)
	return nil
}

// PreparedDriver is UsableDriver with img prepared; the driver is closed when the test ends.
func PreparedDriver(t testing.TB, name string, img *image.Image) runtime.Driver {
	t.Helper()
	d := UsableDriver(t, name)
	if err := d.Prepare(context.Background(), img); err != nil {
		t.Fatalf("preparing %s: %v", name, err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
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
	return RunOn(t, Runtimes, b, img, settings, probeBin)
}

// RunOn is RunOnRuntimes on the named runtimes only (a slow benchmark skips the emulated VM).
func RunOn(t *testing.T, runtimes []string, b bench.Benchmark, img *image.Image, settings bench.Settings, probeBin string) map[string][]Sample {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	all := map[string][]Sample{}
	idPrefix := fmt.Sprintf("%stest-%s-%d-", runtime.NamePrefix, b.Name(), os.Getpid())
	for _, name := range runtimes {
		t.Run(name, func(t *testing.T) {
			d := PreparedDriver(t, name, img)
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
				NewID: func() string { return fmt.Sprintf("%s%d", idPrefix, ids.Add(1)) },
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
			AssertNothingLeft(t, idPrefix, nil, nil)
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

// LogRaw shows the raw outputs of a failed trial, which t.TempDir would remove.
func LogRaw(t testing.TB, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			t.Logf("raw %s:\n%s", e.Name(), tailString(string(data), 2000))
		}
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
