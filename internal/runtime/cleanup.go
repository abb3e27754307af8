package runtime

import (
	"context"
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
