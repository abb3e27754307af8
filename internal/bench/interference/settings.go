package interference

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/runtime"
)

// Settings keys (config file: benchmarks: interference: {...}) and their defaults.
const (
	// SettingAggressors lists the aggressor kinds (cpu, memory, disk, network, fork).
	SettingAggressors = "aggressors"
	// SettingCounts lists how many aggressor containers run beside the victim at once.
	SettingCounts = "counts"
	// SettingAggressorRuntimes lists the aggressors' runtimes; the default is every
	// runtime of the run. "same" is the victim's own.
	SettingAggressorRuntimes = "aggressor_runtimes"
	// SettingVictimCPUs is the cpuset of the victim (container and host-side client).
	SettingVictimCPUs = "victim_cpus"
	// SettingPlacements lists where aggressors run: "shared" (the victim's CPUs),
	// "separate" (every other CPU) or a cpuset list like "1-3".
	SettingPlacements = "placements"
	// SettingAggressorMemory and SettingVictimMemory limit each container's memory
	// ("512MiB"; empty: no limit). A runtime that cannot limit memory then refuses.
	SettingAggressorMemory = "aggressor_memory"
	SettingVictimMemory    = "victim_memory"
	// SettingVictimTime is how long the CPU victim computes per measurement.
	SettingVictimTime = "victim_time"
	// SettingRoundTrips is how many request/response round trips the latency victim times.
	SettingRoundTrips = "round_trips"
	// SettingSettle is how long the aggressors run before the victim is measured.
	SettingSettle = "settle"
)

// Placements of the aggressors' CPUs.
const (
	PlacementShared   = "shared"
	PlacementSeparate = "separate"
)

// SameRuntime in aggressor_runtimes names the victim's runtime.
const SameRuntime = "same"

var (
	DefaultCounts          = []int{1, 2}
	QuickCounts            = []int{1}
	DefaultPlacements      = []string{PlacementSeparate, PlacementShared}
	QuickPlacements        = []string{PlacementSeparate}
	DefaultVictimCPUs      = "0"
	DefaultVictimTime      = 2 * time.Second
	QuickVictimTime        = 1 * time.Second
	DefaultRoundTrips      = 5000
	QuickRoundTrips        = 1000
	DefaultSettle          = time.Second
	QuickSettle            = 300 * time.Millisecond
	maxCount               = 16
	maxVictimTime          = 5 * time.Minute
	maxRoundTrips          = 1_000_000
	maxSettle              = time.Minute
	placementCPUListPrefix = "cpus:"
)

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

// readSettings reads and checks the settings; every cpuset, memory limit and runtime is
// checked against the host and the runtimes here, so that nothing starts when one
// cannot be had.
func readSettings(t *bench.Trial) (config, error) {
	c := config{counts: DefaultCounts, victimTime: DefaultVictimTime, roundTrips: DefaultRoundTrips, settle: DefaultSettle}
	placements := DefaultPlacements
	if t.Quick {
		c.counts, c.victimTime, c.roundTrips, c.settle = QuickCounts, QuickVictimTime, QuickRoundTrips, QuickSettle
		placements = QuickPlacements
	}
	var err error
	kindNames, err := strings_(t.Settings, SettingAggressors, kindNames())
	if err != nil {
		return c, err
	}
	for _, n := range kindNames {
		k, err := kindByName(n)
		if err != nil {
			return c, err
		}
		c.kinds = append(c.kinds, k)
	}
	if c.counts, err = t.Settings.Ints(SettingCounts, c.counts); err != nil {
		return c, err
	}
	for _, k := range c.counts {
		if k < 1 || k > maxCount {
			return c, fmt.Errorf("setting %s: %d aggressors is not between 1 and %d", SettingCounts, k, maxCount)
		}
	}
	if len(c.kinds) == 0 || len(c.counts) == 0 {
		return c, fmt.Errorf("settings %s and %s must not be empty", SettingAggressors, SettingCounts)
	}
	if c.victimTime, err = t.Settings.Duration(SettingVictimTime, c.victimTime); err != nil {
		return c, err
	}
	if c.victimTime < time.Second || c.victimTime%time.Second != 0 || c.victimTime > maxVictimTime {
		return c, fmt.Errorf("setting %s: %s is not a whole number of seconds between 1s and %s", SettingVictimTime, c.victimTime, maxVictimTime)
	}
	if c.roundTrips, err = t.Settings.Int(SettingRoundTrips, c.roundTrips); err != nil {
		return c, err
	}
	if c.roundTrips < 100 || c.roundTrips > maxRoundTrips {
		return c, fmt.Errorf("setting %s: %d is not between 100 and %d", SettingRoundTrips, c.roundTrips, maxRoundTrips)
	}
	if c.settle, err = t.Settings.Duration(SettingSettle, c.settle); err != nil {
		return c, err
	}
	if c.settle < 0 || c.settle > maxSettle {
		return c, fmt.Errorf("setting %s: %s is not between 0 and %s", SettingSettle, c.settle, maxSettle)
	}

	c.victimCPUs = t.Settings.String(SettingVictimCPUs, DefaultVictimCPUs)
	if err := runtime.CheckResources(runtime.Resources{CPUs: c.victimCPUs}); err != nil {
		return c, fmt.Errorf("setting %s: %w", SettingVictimCPUs, err)
	}
	if placements, err = strings_(t.Settings, SettingPlacements, placements); err != nil {
		return c, err
	}
	for _, p := range placements {
		pl, err := resolvePlacement(p, c.victimCPUs)
		if err != nil {
			return c, fmt.Errorf("setting %s: %w", SettingPlacements, err)
		}
		c.placements = append(c.placements, pl)
	}
	if len(c.placements) == 0 {
		return c, fmt.Errorf("setting %s must not be empty", SettingPlacements)
	}
	if c.aggressorMem, err = bytesSetting(t.Settings, SettingAggressorMemory); err != nil {
		return c, err
	}
	if c.victimMem, err = bytesSetting(t.Settings, SettingVictimMemory); err != nil {
		return c, err
	}

	names, err := strings_(t.Settings, SettingAggressorRuntimes, nil)
	if err != nil {
		return c, err
	}
	if names == nil {
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

	// Every limit asked for must be possible on every runtime that gets it.
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
		return nil, fmt.Errorf("setting %s: runtime %q is not one of this run's runtimes %v (add it to --runtimes)", SettingAggressorRuntimes, name, known)
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
		return placement{label: placementCPUListPrefix + list, cpus: list}, nil
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

// strings_ reads a list of strings ([a, b]) or one comma-separated string.
func strings_(s bench.Settings, key string, def []string) ([]string, error) {
	v, ok := s[key]
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case string:
		var out []string
		for _, f := range strings.Split(x, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out, nil
	case []any:
		var out []string
		for _, e := range x {
			str, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("setting %s: %v is not a list of names", key, v)
			}
			out = append(out, strings.TrimSpace(str))
		}
		return out, nil
	}
	return nil, fmt.Errorf("setting %s: %v is not a list of names like [a, b]", key, v)
}

// bytesSetting reads a size like "512MiB", "1GiB" or a number of bytes; absent or empty is 0.
func bytesSetting(s bench.Settings, key string) (int64, error) {
	v := strings.TrimSpace(s.String(key, ""))
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
