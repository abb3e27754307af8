package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/config"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// fakeDriver runs fake containers and remembers what was made and removed, so tests
// can check that a run leaves nothing behind. It needs no root.
type fakeDriver struct {
	name string
	// stderr is what every container writes to its stderr on start.
	stderr string
	// block makes Wait return only when its context ends (a hung workload).
	block bool
	// prepareErr fails Prepare after it has made something, as a half-done image load would.
	prepareErr error
	closeErr   error

	mu       sync.Mutex
	prepared int
	closed   int
	live     map[string]bool
	made     int
}

func newFakeDriver(name string) *fakeDriver { return &fakeDriver{name: name, live: map[string]bool{}} }

func (d *fakeDriver) Profile() runtime.Profile { return runtime.Profile{Name: d.name, Driver: "fake"} }
func (d *fakeDriver) Check(context.Context) runtime.Status {
	return runtime.Status{Found: true, Usable: true, Class: runtime.ClassProcess}
}
func (d *fakeDriver) Prepare(context.Context, *image.Image) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prepared++
	return d.prepareErr
}
func (d *fakeDriver) New(_ context.Context, spec runtime.Spec) (runtime.Container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.live[spec.ID] = true
	d.made++
	return &fakeContainer{d: d, spec: spec}, nil
}
func (d *fakeDriver) Close(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed++
	return d.closeErr
}

// leftovers says what the driver still holds after a run.
func (d *fakeDriver) leftovers() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.live) > 0 {
		return fmt.Errorf("%s: containers left: %v", d.name, d.live)
	}
	if d.prepared != d.closed {
		return fmt.Errorf("%s: prepared %d times, closed %d times", d.name, d.prepared, d.closed)
	}
	return nil
}

type fakeContainer struct {
	d    *fakeDriver
	spec runtime.Spec
}

func (c *fakeContainer) ID() string                   { return c.spec.ID }
func (c *fakeContainer) Create(context.Context) error { return nil }
func (c *fakeContainer) Start(context.Context) error {
	if c.d.stderr != "" && c.spec.Stderr != nil {
		if _, err := io.WriteString(c.spec.Stderr, c.d.stderr); err != nil {
			return err
		}
	}
	return nil
}
func (c *fakeContainer) Wait(ctx context.Context) (int, error) {
	if c.d.block {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	return 0, nil
}
func (c *fakeContainer) Delete(context.Context) error {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	delete(c.d.live, c.spec.ID)
	return nil
}
func (c *fakeContainer) Processes(context.Context) ([]runtime.Process, error) { return nil, nil }
func (c *fakeContainer) Network() runtime.NetworkInfo                         { return runtime.NetworkInfo{} }

// fakeBench runs one container through bench.RunToExit per trial, as the start-up
// benchmark does, then calls values (if set) for what to emit; calls records every
// trial it ran as "runtime/index/warmup".
type fakeBench struct {
	name string
	// before runs first in each trial; an error fails the trial.
	before func(ctx context.Context, t *bench.Trial) error
	// values says what the trial emits for metric "value".
	values func(t *bench.Trial) []float64

	mu    sync.Mutex
	calls []string
}

func (b *fakeBench) Name() string        { return b.name }
func (b *fakeBench) Description() string { return "a fake benchmark for the runner's tests" }
func (b *fakeBench) Metrics() []bench.Metric {
	return []bench.Metric{{Name: "value", Unit: "ms", Better: results.Lower}}
}
func (b *fakeBench) Tools() []string { return nil }
func (b *fakeBench) Run(ctx context.Context, t *bench.Trial) error {
	b.mu.Lock()
	b.calls = append(b.calls, fmt.Sprintf("%s/%d/%v", t.Runtime, t.Index, t.Warmup))
	b.mu.Unlock()
	if b.before != nil {
		if err := b.before(ctx, t); err != nil {
			return err
		}
	}
	if _, err := bench.RunToExit(ctx, t.Driver, runtime.Spec{ID: t.NewID(), Args: []string{"true"}}); err != nil {
		return err
	}
	vals := []float64{float64(t.Index)}
	if b.values != nil {
		vals = b.values(t)
	}
	for _, v := range vals {
		t.Emit("value", v, nil)
	}
	return nil
}

// fakePlan is a plan over fake drivers and benchmarks, as NewPlan would have checked it.
func fakePlan(t *testing.T, opts Options, benches []bench.Benchmark, drivers ...*fakeDriver) *Plan {
	t.Helper()
	opts.Config = config.Default()
	if opts.OutDir == "" {
		opts.OutDir = filepath.Join(t.TempDir(), "run")
	}
	opts, err := opts.resolve()
	if err != nil {
		t.Fatal(err)
	}
	p := &Plan{opts: opts, runID: "20260101T000000-0123abcd", benches: benches, skipped: map[string]string{},
		img: &image.Image{Name: "fake", Digest: "sha256:" + fmt.Sprintf("%064d", 0)}, probe: "/nonexistent/probe"}
	for _, d := range drivers {
		p.runtimes = append(p.runtimes, &plannedRuntime{profile: d.Profile(), driver: d, status: d.Check(context.Background())})
	}
	return p
}

// readJSONL decodes every line of a run's JSONL file strictly.
func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v T
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v in %q", path, err, sc.Text())
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readEnv(t *testing.T, dir string) results.Environment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, results.EnvironmentFile))
	if err != nil {
		t.Fatal(err)
	}
	var env results.Environment
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	return env
}

// failingWriter is a results.Writer whose sample or failure appends fail, like a full disk.
type failingWriter struct {
	*results.Writer
	failSamples, failFailures bool
}

var errDiskFull = errors.New("no space left on device (simulated)")

func (w *failingWriter) AddSample(s results.Sample) error {
	if w.failSamples {
		return errDiskFull
	}
	return w.Writer.AddSample(s)
}

func (w *failingWriter) AddFailure(f results.Failure) error {
	if w.failFailures {
		return errDiskFull
	}
	return w.Writer.AddFailure(f)
}
