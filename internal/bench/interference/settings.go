package interference

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/runtime"
)

// Settings are the benchmark's settings (config file: benchmarks: interference: {...}).
type Settings struct {
	// Aggressors lists the aggressor kinds (cpu, memory, disk, network, fork).
	Aggressors []string `yaml:"aggressors"`
	// Counts lists how many aggressor containers run beside the victim at once.
	Counts []int `yaml:"counts"`
	// AggressorRuntimes lists the aggressors' runtimes; empty means every runtime of the
	// run, "same" the victim's own.
	AggressorRuntimes []string `yaml:"aggressor_runtimes"`
	// VictimCPUs is the cpuset of the victim (its containers and its host-side client).
	VictimCPUs string `yaml:"victim_cpus"`
	// Placements lists where aggressors run: "shared" (the victim's CPUs), "separate"
	// (every other CPU) or "cpus:LIST" (a cpuset like cpus:1-3).
	Placements []string `yaml:"placements"`
	// AggressorMemory and VictimMemory limit each container's memory ("512MiB"; empty:
	// no limit). A runtime that cannot limit memory then refuses before anything starts.
	AggressorMemory string `yaml:"aggressor_memory"`
	VictimMemory    string `yaml:"victim_memory"`
	// VictimTime is how long the CPU victim computes per measurement (whole seconds).
	VictimTime bench.Duration `yaml:"victim_time"`
	// RoundTrips is how many request/response round trips the latency victim times.
	RoundTrips int `yaml:"round_trips"`
	// Settle is how long the aggressors run before the victim is measured.
	Settle bench.Duration `yaml:"settle"`
}

// Placements of the aggressors' CPUs.
const (
	PlacementShared   = "shared"
	PlacementSeparate = "separate"
	// placementCPUListPrefix starts a placement that names its cpuset.
	placementCPUListPrefix = "cpus:"
)

// SameRuntime in aggressor_runtimes names the victim's runtime.
const SameRuntime = "same"

const (
	maxCount      = 16
	maxVictimTime = 5 * time.Minute
	maxRoundTrips = 1_000_000
	maxSettle     = time.Minute
)

// DefaultSettings implements bench.Configurable. The quick run puts aggressors on the
// CPUs the victim does not use (what partitioning a host buys); the full run also
// shares the victim's CPUs and runs two aggressors at once.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{
		Aggressors: kindNames(), Counts: []int{1, 2}, VictimCPUs: "0",
		Placements: []string{PlacementSeparate, PlacementShared},
		VictimTime: bench.Duration(2 * time.Second), RoundTrips: 5000, Settle: bench.Duration(time.Second),
	}
	if quick {
		s.Counts, s.Placements = []int{1}, []string{PlacementSeparate}
		s.VictimTime, s.RoundTrips, s.Settle = bench.Duration(time.Second), 1000, bench.Duration(300*time.Millisecond)
	}
	return s
}

// Validate checks the settings against each other and against this host's CPUs and
// memory; the runtimes are checked when a trial starts, before anything runs.
func (s Settings) Validate() error {
	_, err := s.resolve()
	return err
}

// config is a trial's settings, checked.
type config struct {
	kinds        []Kind
	counts       []int
	runtimes     []string // aggressor runtimes, resolved
	victimCPUs   string
	placements   []placement
	aggressorMem int64
	victimMem    int64
	victimTime   time.Duration
	roundTrips   int
	settle       time.Duration
}

// placement is where aggressors run: a label for the samples and the cpuset.
type placement struct {
	label, cpus string
}

// resolve checks the settings and turns them into a config, runtimes aside.
func (s Settings) resolve() (config, error) {
	c := config{counts: s.Counts, victimCPUs: s.VictimCPUs, victimTime: s.VictimTime.D(), roundTrips: s.RoundTrips, settle: s.Settle.D()}
	for _, n := range s.Aggressors {
		k, err := kindByName(n)
		if err != nil {
			return c, err
		}
		c.kinds = append(c.kinds, k)
	}
	for _, k := range c.counts {
		if k < 1 || k > maxCount {
			return c, fmt.Errorf("setting counts: %d aggressors is not between 1 and %d", k, maxCount)
		}
	}
	if len(c.kinds) == 0 || len(c.counts) == 0 || len(s.Placements) == 0 {
		return c, errors.New("settings aggressors, counts and placements must not be empty")
	}
	if c.victimTime < time.Second || c.victimTime%time.Second != 0 || c.victimTime > maxVictimTime {
		return c, fmt.Errorf("setting victim_time: %s is not a whole number of seconds between 1s and %s", c.victimTime, maxVictimTime)
	}
	if c.roundTrips < 100 || c.roundTrips > maxRoundTrips {
		return c, fmt.Errorf("setting round_trips: %d is not between 100 and %d", c.roundTrips, maxRoundTrips)
	}
	if c.settle < 0 || c.settle > maxSettle {
		return c, fmt.Errorf("setting settle: %s is not between 0 and %s", c.settle, maxSettle)
	}
	if err := runtime.CheckResources(runtime.Resources{CPUs: c.victimCPUs}); err != nil {
		return c, fmt.Errorf("setting victim_cpus: %w", err)
	}
	for _, p := range s.Placements {
		pl, err := resolvePlacement(p, c.victimCPUs)
		if err != nil {
			return c, fmt.Errorf("setting placements: %w", err)
		}
		c.placements = append(c.placements, pl)
	}
	var err error
	if c.aggressorMem, err = parseSize("aggressor_memory", s.AggressorMemory); err != nil {
		return c, err
	}
	if c.victimMem, err = parseSize("victim_memory", s.VictimMemory); err != nil {
		return c, err
	}
	for _, r := range []runtime.Resources{{MemoryBytes: c.aggressorMem}, {MemoryBytes: c.victimMem}} {
		if err := runtime.CheckResources(r); err != nil {
			return c, err
		}
	}
	return c, nil
}

// readSettings reads and checks the trial's settings, and checks that every runtime named
// exists in the run and can apply every CPU set and memory limit asked for, so that
// nothing starts when one cannot be had.
func readSettings(t *bench.Trial) (config, error) {
	s, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return config{}, err
	}
	c, err := s.resolve()
	if err != nil {
		return c, err
	}
	names := s.AggressorRuntimes
	if len(names) == 0 {
		for n := range t.Peers {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			names = []string{t.Runtime}
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if n == SameRuntime {
			n = t.Runtime
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		if _, err := peer(t, n); err != nil {
			return c, err
		}
		c.runtimes = append(c.runtimes, n)
	}

	victim := runtime.Resources{CPUs: c.victimCPUs, MemoryBytes: c.victimMem}
	if err := runtime.CanLimit(t.Driver, victim); err != nil {
		return c, fmt.Errorf("victim on %s (%s): %w", t.Runtime, victim, err)
	}
	for _, n := range c.runtimes {
		d, _ := peer(t, n)
		for _, pl := range c.placements {
			r := runtime.Resources{CPUs: pl.cpus, MemoryBytes: c.aggressorMem}
			if err := runtime.CanLimit(d, r); err != nil {
				return c, fmt.Errorf("aggressors on %s (%s): %w", n, r, err)
			}
		}
	}
	return c, nil
}

// peer finds the driver of runtime name among the run's runtimes.
func peer(t *bench.Trial, name string) (runtime.Driver, error) {
	if name == t.Runtime {
		return t.Driver, nil
	}
	d, ok := t.Peers[name]
	if !ok {
		var known []string
		for n := range t.Peers {
			known = append(known, n)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("setting aggressor_runtimes: runtime %q is not one of this run's runtimes %v (add it to --runtimes)", name, known)
	}
	return d, nil
}

// resolvePlacement turns a placement name into its cpuset.
func resolvePlacement(p, victimCPUs string) (placement, error) {
	switch {
	case p == PlacementShared:
		return placement{label: p, cpus: victimCPUs}, nil
	case p == PlacementSeparate:
		other, err := otherCPUs(victimCPUs)
		if err != nil {
			return placement{}, err
		}
		return placement{label: p, cpus: other}, nil
	default:
		list := strings.TrimPrefix(p, placementCPUListPrefix)
		if err := runtime.CheckResources(runtime.Resources{CPUs: list}); err != nil {
			return placement{}, fmt.Errorf("%q is not shared, separate or a usable cpuset: %w", p, err)
		}
		if !strings.HasPrefix(p, placementCPUListPrefix) {
			return placement{}, fmt.Errorf("%q is not shared, separate or cpus:LIST", p)
		}
		return placement{label: p, cpus: list}, nil
	}
}

// otherCPUs is every CPU isobench may use that the victim does not.
func otherCPUs(victimCPUs string) (string, error) {
	victim, err := runtime.ParseCPUList(victimCPUs)
	if err != nil {
		return "", err
	}
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return "", fmt.Errorf("reading the CPUs isobench may use: %w", err)
	}
	for _, c := range victim {
		if c < 1024 {
			allowed.Clear(c)
		}
	}
	var other []string
	for c := 0; c < 1024; c++ {
		if allowed.IsSet(c) {
			other = append(other, strconv.Itoa(c))
		}
	}
	if len(other) == 0 {
		return "", fmt.Errorf("placement %s needs a CPU the victim (CPUs %s) does not use, and this host offers none", PlacementSeparate, victimCPUs)
	}
	return strings.Join(other, ","), nil
}

// parseSize reads a size like "512MiB", "1GiB" or a number of bytes; empty is 0.
func parseSize(key, v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := v
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("setting %s: %q is not a size like 512MiB", key, v)
	}
	return n * mult, nil
}
