// Package config reads isobench's config file: user runtime profiles, benchmark
// settings and network settings.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/strictyaml"
)

// DefaultSubnet is RFC 2544's benchmarking range; isobench's own links and bridges live in it.
const DefaultSubnet = "198.18.0.0/15"

// Config is the whole config file.
type Config struct {
	// Runtimes are user profiles; one with a built-in's name replaces the built-in.
	Runtimes []runtime.Profile `yaml:"runtimes,omitempty" json:"runtimes,omitempty"`
	// Benchmarks maps a benchmark name to its settings (durations, sizes, ...).
	Benchmarks map[string]bench.Settings `yaml:"benchmarks,omitempty" json:"benchmarks,omitempty"`
	Network    Network                   `yaml:"network,omitempty" json:"network"`
}

// Network configures the links isobench makes.
type Network struct {
	// Subnet is where isobench takes container and host addresses from.
	Subnet string `yaml:"subnet,omitempty" json:"subnet"`
}

var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Default is the configuration without a file.
func Default() *Config {
	return &Config{Network: Network{Subnet: DefaultSubnet}}
}

// Load reads a config file; an empty path gives the default.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse decodes and validates a config; unknown keys are errors, so typos do not pass silently.
func Parse(r io.Reader, name string) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", name, err)
	}
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s is not valid: %s", name, withAllowedKeys(oneLine(err.Error())))
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// unknownField is yaml.v3's error for a key a struct has no field for.
var unknownField = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// withAllowedKeys names, in yaml.v3's unknown-field error, the keys that are allowed
// where the unknown one stood.
func withAllowedKeys(msg string) string {
	m := unknownField.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	for _, t := range []reflect.Type{reflect.TypeOf(Config{}), reflect.TypeOf(Network{}), reflect.TypeOf(runtime.Profile{})} {
		if t.String() == m[2] {
			allowed := strictyaml.Keys(t)
			keys := make([]string, 0, len(allowed))
			for k := range allowed {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return strings.Replace(msg, m[0], fmt.Sprintf("unknown key %q: allowed are %s", m[1], strings.Join(keys, ", ")), 1)
		}
	}
	return msg
}

// Validate checks profiles and network settings.
func (c *Config) Validate() error {
	seen := map[string]bool{}
	known := map[string]bool{}
	for _, d := range runtime.Drivers() {
		known[d] = true
	}
	for i, p := range c.Runtimes {
		if p.Name == "" {
			return fmt.Errorf("runtime #%d has no name: give it `name: my-runtime`", i+1)
		}
		if !profileName.MatchString(p.Name) {
			return fmt.Errorf("runtime name %q: use lower-case letters, digits, '.', '_' and '-'", p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("runtime %q is defined twice", p.Name)
		}
		seen[p.Name] = true
		if p.Driver == "" {
			return fmt.Errorf("runtime %q has no driver: set `driver:` to one of %v", p.Name, runtime.Drivers())
		}
		if !known[p.Driver] {
			return fmt.Errorf("runtime %q: unknown driver %q: use one of %v", p.Name, p.Driver, runtime.Drivers())
		}
		if err := runtime.CheckOptions(p); err != nil {
			return err
		}
	}
	for name, settings := range c.Benchmarks {
		b, err := bench.Get(name)
		if err != nil {
			return fmt.Errorf("benchmarks: %w", err)
		}
		if _, err := bench.DecodeSettings(b, settings, false); err != nil {
			return fmt.Errorf("benchmarks: %w", err)
		}
	}
	if c.Network.Subnet == "" {
		c.Network.Subnet = DefaultSubnet
	}
	pfx, err := netip.ParsePrefix(c.Network.Subnet)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 24 {
		return fmt.Errorf("network.subnet %q: give an IPv4 prefix of /24 or larger, like %s", c.Network.Subnet, DefaultSubnet)
	}
	// isobench's links carry benchmark traffic: they stay in RFC 2544's benchmarking
	// range, which no real network routes, never on addresses of real networks.
	if allowed := netip.MustParsePrefix(DefaultSubnet); pfx.Bits() < allowed.Bits() || !allowed.Contains(pfx.Addr()) {
		return fmt.Errorf("network.subnet %s is outside %s: isobench's links must stay in RFC 2544's benchmarking range; give a part of it, like 198.19.0.0/16", c.Network.Subnet, DefaultSubnet)
	}
	if pfx != pfx.Masked() {
		return fmt.Errorf("network.subnet %s has host bits set: give the network address, %s", c.Network.Subnet, pfx.Masked())
	}
	return nil
}

// Profiles returns the built-in profiles with the user's added or replacing them.
func (c *Config) Profiles() []runtime.Profile {
	out := runtime.Builtins()
	for _, p := range c.Runtimes {
		replaced := false
		for i := range out {
			if out[i].Name == p.Name {
				out[i], replaced = p, true
			}
		}
		if !replaced {
			out = append(out, p)
		}
	}
	return out
}

// Profile finds a profile by name.
func (c *Config) Profile(name string) (runtime.Profile, error) {
	var names []string
	for _, p := range c.Profiles() {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return runtime.Profile{}, fmt.Errorf("unknown runtime %q (known: %v; add your own under `runtimes:` in a --config file)", name, names)
}

// BenchSettings returns the settings for one benchmark (never nil).
func (c *Config) BenchSettings(name string) bench.Settings {
	if s, ok := c.Benchmarks[name]; ok && s != nil {
		return s
	}
	return bench.Settings{}
}

// oneLine folds the YAML library's multi-line errors into one line.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "yaml: unmarshal errors:\n", "")
	return strings.Join(strings.Fields(s), " ")
}
