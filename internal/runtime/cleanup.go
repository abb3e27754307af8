package runtime

import (
	"context"
	"errors"
	"sort"
)

// Cleaner removes what killed runs of one driver kind left on the host: objects whose names
// start with NamePrefix (or that carry the isobench label), and nothing else. It gets
// every known profile, so it can look where user profiles point (another socket, root).
type Cleaner func(ctx context.Context, env Env, profiles []Profile) (removed []string, err error)

var cleaners = map[string]Cleaner{}

// RegisterCleaner adds the leftover sweep of a driver kind; drivers call it from init.
func RegisterCleaner(driver string, c Cleaner) {
	mu.Lock()
	defer mu.Unlock()
	cleaners[driver] = c
}

// Cleaners returns the registered sweeps by driver name, in name order.
func Cleaners() (names []string, fns []Cleaner) {
	mu.Lock()
	defer mu.Unlock()
	for n := range cleaners {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fns = append(fns, cleaners[n])
	}
	return names, fns
}

// ProfileSweep is how the leftovers of one profile are swept. Endpoint names where they
// live (a daemon's socket; a runtime binary with its state root), so that a place several
// profiles point to is swept once; Run removes them. An empty Endpoint means the profile
// has nothing to sweep.
type ProfileSweep struct {
	Endpoint string
	Run      func() (removed []string, err error)
}

// ProfileSweeper tells how the leftovers of profile p are swept.
type ProfileSweeper func(ctx context.Context, env Env, p Profile) (ProfileSweep, error)

// ProfileCleaner is the Cleaner of a driver kind whose leftovers live where its profiles
// point: it runs the sweep of each distinct endpoint among them once, as sweepOf tells
// them, and gathers what the sweeps removed and every error.
func ProfileCleaner(driver string, sweepOf ProfileSweeper) Cleaner {
	return func(ctx context.Context, env Env, profiles []Profile) ([]string, error) {
		var s Sweep
		for _, p := range ProfilesOf(driver, profiles) {
			ps, err := sweepOf(ctx, env, p)
			if err != nil {
				s.Add(nil, err)
				continue
			}
			if ps.Endpoint == "" || !s.first(ps.Endpoint) {
				continue
			}
			s.Add(ps.Run())
		}
		return s.Result()
	}
}

// Sweep gathers what leftover sweeps removed and why they failed, and makes sure each
// endpoint (daemon socket, runtime state root) is swept once.
type Sweep struct {
	removed []string
	errs    []error
	done    map[string]bool
}

// first tells whether endpoint is seen for the first time; it is swept only then.
func (s *Sweep) first(endpoint string) bool {
	if s.done == nil {
		s.done = map[string]bool{}
	}
	if s.done[endpoint] {
		return false
	}
	s.done[endpoint] = true
	return true
}

// Add records one sweep: what it removed and its error, if any.
func (s *Sweep) Add(removed []string, err error) {
	s.removed = append(s.removed, removed...)
	if err != nil {
		s.errs = append(s.errs, err)
	}
}

// Result is what a Cleaner returns: everything removed, and every error joined.
func (s *Sweep) Result() ([]string, error) { return s.removed, errors.Join(s.errs...) }

// ProfilesOf is the profiles of one driver kind.
func ProfilesOf(driver string, profiles []Profile) []Profile {
	var out []Profile
	for _, p := range profiles {
		if p.Driver == driver {
			out = append(out, p)
		}
	}
	return out
}
