// Package density measures what packing many sandboxes on one host costs: memory per
// container as N grows, the start-up of one more container while N run, and the rate of
// a burst of parallel starts.
package density

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

func init() { bench.Register(Density{}) }

// Density is the density benchmark.
type Density struct{}

func (Density) Name() string { return "density" }

func (Density) Description() string {
	return "N idle containers: memory per container (MemAvailable drop and PSS), start-up while N run, burst start rate"
}

func (Density) Metrics() []bench.Metric {
	return []bench.Metric{
		{Name: "mem_available_per_container", Unit: "MiB", Better: results.Lower, Description: "drop of the host's MemAvailable divided by the containers running (param n)",
			Caveat: "MemAvailable is host-wide, so it moves with everything else on the host; at small n on a busy host the drop per container " +
				"can be dominated by other processes (even negative); pss_per_container measures the containers themselves"},
		{Name: "pss_per_container", Unit: "MiB", Better: results.Lower, Description: "proportional set size of each container's processes (workload, shim, sandbox, gofer, VMM), mean per container (param n)"},
		{Name: "startup_under_load", Unit: "ms", Better: results.Lower, Description: "create to first output of one more container while n run (param n)"},
		{Name: "vmm_overhead", Unit: "MiB", Better: results.Lower, Description: "VMs only: the VMM's memory beyond the guest memory it holds, mean per VM (param n)"},
		{Name: "start_failures", Unit: "count", Better: results.Lower, Description: "containers of a step that failed to start (param n)"},
		{Name: "burst_rate", Unit: "containers/s", Better: results.Higher, Description: "containers started per second when n start at once with parallelism p"},
		{Name: "burst_startup", Unit: "ms", Better: results.Lower, Description: "create to first output of each container of the burst"},
	}
}

// The workload of the idle containers is the probe, so every runtime idles the same program.
func (Density) Tools() []string { return nil }

// Settings are the benchmark's settings (config file: benchmarks: density: {...}).
type Settings struct {
	// Steps are the numbers of idle containers to run together, each step from zero.
	Steps []int `yaml:"steps"`
	// Settle is how long the containers of a step idle before memory is read.
	Settle bench.Duration `yaml:"settle"`
	// BurstN containers start at once, BurstParallel at a time, for the burst rate.
	BurstN        int `yaml:"burst_n"`
	BurstParallel int `yaml:"burst_parallel"`
}

// DefaultSettings implements bench.Configurable.
func (Density) DefaultSettings(quick bool) any {
	if quick {
		return &Settings{Steps: []int{1, 5, 10}, Settle: bench.Duration(time.Second), BurstN: 8, BurstParallel: 2}
	}
	return &Settings{Steps: []int{1, 10, 50, 100}, Settle: bench.Duration(3 * time.Second), BurstN: 20, BurstParallel: 4}
}

// Validate refuses steps without containers and an empty burst.
func (s Settings) Validate() error {
	for _, n := range s.Steps {
		if n < 1 {
			return fmt.Errorf("density: step %d: every step needs at least one container", n)
		}
	}
	if s.BurstN < 1 || s.BurstParallel < 1 {
		return errors.New("density: burst_n and burst_parallel must be at least 1")
	}
	return nil
}

type settings struct {
	steps         []int
	settle        time.Duration
	burstN        int
	burstParallel int
	budget        uint64
}

// memAvailable reads the host's MemAvailable; tests replace it to inject a failure.
var memAvailable = hostinfo.MemAvailable

func readSettings(t *bench.Trial) (settings, error) {
	cfg, err := bench.ReadSettings[Settings](t, Density{})
	if err != nil {
		return settings{}, err
	}
	s := settings{steps: cfg.Steps, settle: cfg.Settle.D(), burstN: cfg.BurstN, burstParallel: cfg.BurstParallel}
	s.budget = t.MemoryBudget
	if s.budget == 0 {
		// By default the steps may take half of what the host has available. Without
		// that figure there is no budget, and no step may run unbounded.
		avail, err := memAvailable()
		if err != nil {
			return s, fmt.Errorf("density: reading the host's MemAvailable for the memory budget: %w", err)
		}
		if avail == 0 {
			return s, errors.New("density: the host reports no MemAvailable: cannot set a memory budget")
		}
		s.budget = avail / 2
	}
	return s, nil
}

// Run implements bench.Benchmark: each step starts from zero containers, so a step's
// numbers do not carry the previous step's leftovers.
func (d Density) Run(ctx context.Context, t *bench.Trial) error {
	s, err := readSettings(t)
	if err != nil {
		return err
	}
	for _, n := range s.steps {
		if err := d.step(ctx, t, s, n); err != nil {
			return fmt.Errorf("density step n=%d: %w", n, err)
		}
	}
	return burst(ctx, t, s)
}

// idleSpec is a container that does nothing until it is deleted.
func idleSpec(t *bench.Trial) runtime.Spec {
	return runtime.Spec{
		ID:     t.NewID(),
		Args:   []string{bench.ProbePath, "probe", "sleep"},
		Mounts: []runtime.Mount{{Type: "bind", Source: t.Probe, Destination: bench.ProbePath, ReadOnly: true}},
	}
}

// containerMemory is what the raw file keeps of one container.
type containerMemory struct {
	ID        string            `json:"id"`
	Processes []processMemory   `json:"processes"`
	PSSBytes  uint64            `json:"pss_bytes"`
	Error     string            `json:"error,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
}

type processMemory struct {
	PID      int    `json:"pid"`
	Role     string `json:"role"`
	Command  string `json:"command"`
	PSSBytes uint64 `json:"pss_bytes"`
}

type stepRecord struct {
	N              int               `json:"n"`
	Started        int               `json:"started"`
	Failed         int               `json:"failed"`
	Failures       []string          `json:"failures,omitempty"`
	BudgetBytes    uint64            `json:"budget_bytes"`
	BudgetReached  bool              `json:"budget_reached"`
	AvailBefore    uint64            `json:"mem_available_before"`
	AvailAfter     uint64            `json:"mem_available_after"`
	Containers     []containerMemory `json:"containers"`
	StartupLoadMS  float64           `json:"startup_under_load_ms"`
	StartupLoadErr string            `json:"startup_under_load_error,omitempty"`
}

func (Density) step(ctx context.Context, t *bench.Trial, s settings, n int) (err error) {
	rec := stepRecord{N: n, BudgetBytes: s.budget}
	var running []runtime.Container
	// A container left behind is a leak that must not pass unseen.
	defer func() {
		if rerr := removeAll(context.WithoutCancel(ctx), running); rerr != nil && err == nil {
			err = rerr
		}
	}()

	settleCaches()
	if rec.AvailBefore, err = memAvailable(); err != nil {
		return err
	}
	pssSum := uint64(0)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// What the step took so far, by the larger of the two measures (MemAvailable is
		// noisy when other things run), and what one more container will likely take.
		avail, err := memAvailable()
		if err != nil {
			return err
		}
		taken := max(sub(rec.AvailBefore, avail), pssSum)
		next := uint64(0)
		if len(running) > 0 {
			next = taken / uint64(len(running))
		}
		if len(running) > 0 && taken+next > s.budget {
			rec.BudgetReached = true
			t.Logf("density: %s: memory budget of %d MiB reached after %d of %d containers; the step stops there (raise --memory-budget to go on)",
				t.Runtime, s.budget>>20, len(running), n)
			break
		}
		c, err := startIdle(ctx, t)
		if err != nil {
			rec.Failed++
			rec.Failures = append(rec.Failures, err.Error())
			continue
		}
		running = append(running, c)
		pssSum += measure(ctx, c).PSSBytes
	}
	rec.Started = len(running)
	t.Emit("start_failures", float64(rec.Failed), params(n))
	if rec.Started == 0 {
		return errors.Join(fmt.Errorf("no container of %d started: %v", n, first(rec.Failures)), writeRecord(t, n, rec))
	}

	sleepCtx(ctx, s.settle)
	if rec.AvailAfter, err = memAvailable(); err != nil {
		return err
	}
	total := uint64(0)
	counted := 0
	var overhead int64
	overheads := 0
	for _, c := range running {
		cm := measure(ctx, c)
		rec.Containers = append(rec.Containers, cm)
		if cm.Error == "" {
			total += cm.PSSBytes
			counted++
		}
		if v, err := strconv.ParseInt(cm.Extra["vmm_overhead_bytes"], 10, 64); err == nil {
			overhead += v
			overheads++
		}
	}

	// One more container while the others run: the start-up a user sees on a busy host.
	out, err := bench.RunToExit(ctx, t.Driver, runtime.Spec{ID: t.NewID(), Args: []string{bench.ProbePath, "probe", "marker"},
		Mounts: []runtime.Mount{{Type: "bind", Source: t.Probe, Destination: bench.ProbePath, ReadOnly: true}}})
	if err == nil {
		rec.StartupLoadMS = ms(out.Timings.Create + out.Timings.StartToOutput)
	} else {
		rec.StartupLoadErr = err.Error()
	}
	if werr := writeRecord(t, n, rec); werr != nil {
		return werr
	}

	p := params(n)
	if rec.BudgetReached {
		// Fewer containers ran than the step asked for: keep such samples apart.
		p["budget_reached"] = "true"
	}
	// Signed: other activity on the host can free memory meanwhile, and clamping the
	// noise at zero would bias the statistics.
	drop := float64(rec.AvailBefore) - float64(rec.AvailAfter)
	t.Emit("mem_available_per_container", drop/float64(rec.Started)/(1<<20), p)
	if counted == 0 {
		return fmt.Errorf("no process of any container could be measured: %s", rec.Containers[0].Error)
	}
	t.Emit("pss_per_container", float64(total)/float64(counted)/(1<<20), p)
	if overheads > 0 {
		t.Emit("vmm_overhead", float64(overhead)/float64(overheads)/(1<<20), p)
	}
	if err != nil {
		return fmt.Errorf("start-up under load: %w", err)
	}
	t.Emit("startup_under_load", rec.StartupLoadMS, params(n))
	return nil
}

func startIdle(ctx context.Context, t *bench.Trial) (runtime.Container, error) {
	c, err := t.Driver.New(ctx, idleSpec(t))
	if err != nil {
		return nil, err
	}
	if err := c.Create(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("create: %w", err), runtime.Remove(context.WithoutCancel(ctx), c))
	}
	if err := c.Start(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("start: %w", err), runtime.Remove(context.WithoutCancel(ctx), c))
	}
	return c, nil
}

// measure sums the PSS of a container's processes.
func measure(ctx context.Context, c runtime.Container) containerMemory {
	cm := containerMemory{ID: c.ID()}
	ps, err := c.Processes(ctx)
	if err != nil {
		cm.Error = err.Error()
		return cm
	}
	for _, p := range ps {
		pss, err := procs.PSS(p.PID)
		if err != nil {
			// A process may end between listing and reading; the others still count.
			continue
		}
		cm.Processes = append(cm.Processes, processMemory{PID: p.PID, Role: p.Role, Command: procs.Comm(p.PID), PSSBytes: pss})
		cm.PSSBytes += pss
	}
	if len(cm.Processes) == 0 {
		cm.Error = fmt.Sprintf("none of the %d processes of %s could be read", len(ps), c.ID())
	}
	if r, ok := c.(interface{ MemoryOverheadBytes() (int64, error) }); ok {
		if v, err := r.MemoryOverheadBytes(); err == nil {
			cm.Extra = map[string]string{"vmm_overhead_bytes": strconv.FormatInt(v, 10)}
		} else {
			cm.Extra = map[string]string{"vmm_overhead_error": err.Error()}
		}
	}
	return cm
}

// burst starts burstN containers with burstParallel at a time, each running to its
// first output, and reports the rate and each container's start-up.
func burst(ctx context.Context, t *bench.Trial, s settings) error {
	type result struct {
		startup time.Duration
		err     error
	}
	res := make([]result, s.burstN)
	jobs := make(chan int)
	var wg sync.WaitGroup
	begin := time.Now()
	for w := 0; w < s.burstParallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out, err := bench.RunToExit(ctx, t.Driver, runtime.Spec{ID: t.NewID(), Args: []string{bench.ProbePath, "probe", "marker"},
					Mounts: []runtime.Mount{{Type: "bind", Source: t.Probe, Destination: bench.ProbePath, ReadOnly: true}}})
				if err != nil {
					res[i].err = err
					continue
				}
				res[i].startup = out.Timings.Create + out.Timings.StartToOutput
			}
		}()
	}
	for i := 0; i < s.burstN; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(begin)
	p := map[string]string{"n": strconv.Itoa(s.burstN), "parallel": strconv.Itoa(s.burstParallel)}
	ok := 0
	var errs []string
	for _, r := range res {
		if r.err != nil {
			errs = append(errs, r.err.Error())
			continue
		}
		ok++
		t.Emit("burst_startup", ms(r.startup), p)
	}
	if err := t.KeepRaw("burst-errors.txt", []byte(fmt.Sprintln(errs))); err != nil {
		return err
	}
	if ok == 0 {
		return fmt.Errorf("burst: no container started: %s", first(errs))
	}
	// Whole containers per second over the whole burst, including its teardown.
	t.Emit("burst_rate", float64(ok)/wall.Seconds(), p)
	return nil
}

// removeAll removes containers in parallel: a step of 100 must not take minutes to tear down.
func removeAll(ctx context.Context, cs []runtime.Container) error {
	sem := make(chan struct{}, 4)
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := runtime.Remove(ctx, c); err != nil {
				errs[i] = fmt.Errorf("removing container %s: %w", c.ID(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func writeRecord(t *bench.Trial, n int, rec stepRecord) error {
	sort.Slice(rec.Containers, func(i, j int) bool { return rec.Containers[i].ID < rec.Containers[j].ID })
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("recording step %d: %w", n, err)
	}
	return t.KeepRaw(fmt.Sprintf("step-n%d.json", n), b)
}

func params(n int) map[string]string { return map[string]string{"n": strconv.Itoa(n)} }

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// settleCaches lets the page cache give back what the last step touched, so
// MemAvailable starts each step from a comparable place.
func settleCaches() {
	// Best effort: without it (no root, a read-only /proc) the steps are only noisier.
	_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0o200)
}
