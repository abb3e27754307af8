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

// Sweep gathers what the leftover sweeps of one Cleaner removed and why they failed, and
// makes sure each endpoint (daemon socket, runtime state root) is swept once.
type Sweep struct {
	removed []string
	errs    []error
	done    map[string]bool
}

// First tells whether endpoint is seen for the first time; a Cleaner sweeps it only then.
func (s *Sweep) First(endpoint string) bool {
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
