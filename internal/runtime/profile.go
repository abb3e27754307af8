package runtime

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"sync"
)

// Profile names a runtime configuration: a driver plus its binary and arguments.
type Profile struct {
	Name   string `yaml:"name" json:"name"`
	Driver string `yaml:"driver" json:"driver"`
	// Binary is the runtime's executable; a bare name is looked up in PATH.
	Binary string `yaml:"binary,omitempty" json:"binary,omitempty"`
	// GlobalArgs go before the subcommand (runc --root X create ...).
	GlobalArgs []string `yaml:"global_args,omitempty" json:"global_args,omitempty"`
	// ContainerArgs go after the create subcommand.
	ContainerArgs []string `yaml:"container_args,omitempty" json:"container_args,omitempty"`
	// Options are driver-specific settings: platform (runsc), socket, handler,
	// snapshotter, runtime (engines), kernel, memory (VMs).
	Options     map[string]string `yaml:"options,omitempty" json:"options,omitempty"`
	Description string            `yaml:"description,omitempty" json:"description,omitempty"`
}

// Env is what every driver gets from the run besides its profile.
type Env struct {
	// Home is isobench's state directory; drivers keep per-container state under Home/run.
	Home string
	// Subnet is where container and host link addresses come from (198.18.0.0/15 by default).
	Subnet netip.Prefix
	// Agent is the static isobench binary that microVM drivers boot as the guest's init
	// (a profile's agent option wins); empty means this executable.
	Agent string
}

// StateDir is where a driver keeps the state of one container (bundle, writable layer).
func (e Env) StateDir(id string) string { return filepath.Join(e.Home, "run", id) }

// Factory makes a driver for a profile.
type Factory func(p Profile, env Env) (Driver, error)

var (
	mu        sync.Mutex
	factories = map[string]Factory{}
	builtins  []Profile
)

// Register makes a driver kind available, with its built-in profiles. Driver packages
// call it from init.
func Register(driver string, f Factory, profiles ...Profile) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[driver]; dup {
		panic("runtime: driver registered twice: " + driver)
	}
	factories[driver] = f
	builtins = append(builtins, profiles...)
}

// Drivers lists the registered driver kinds.
func Drivers() []string {
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtins lists the built-in profiles in registration order.
func Builtins() []Profile {
	mu.Lock()
	defer mu.Unlock()
	return append([]Profile(nil), builtins...)
}

// New makes the driver for a profile. Its New refuses a spec with resource limits the
// driver cannot apply (see ResourceLimiter).
func New(p Profile, env Env) (Driver, error) {
	mu.Lock()
	f, ok := factories[p.Driver]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("profile %q: unknown driver %q (known: %v)", p.Name, p.Driver, Drivers())
	}
	d, err := f(p, env)
	if err != nil {
		return nil, err
	}
	return limitGuard{d}, nil
}

// Option returns a profile option or def.
func (p Profile) Option(key, def string) string {
	if v, ok := p.Options[key]; ok && v != "" {
		return v
	}
	return def
}
