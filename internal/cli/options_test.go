package cli

import (
	"testing"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/runtime"
)

// Every built-in profile passes its driver's declared options, and every benchmark's
// defaults pass its own checks: the declarations and the built-ins agree.
func TestBuiltinsFitTheirDeclarations(t *testing.T) {
	for _, p := range runtime.Builtins() {
		if err := runtime.CheckOptions(p); err != nil {
			t.Errorf("built-in profile %s: %v", p.Name, err)
		}
		// New only reads the profile: it must take every built-in's options.
		if _, err := runtime.New(p, runtime.Env{Home: t.TempDir()}); err != nil {
			t.Errorf("built-in profile %s: New: %v", p.Name, err)
		}
	}
	for _, b := range bench.All() {
		for _, quick := range []bool{false, true} {
			if _, err := bench.DecodeSettings(b, bench.Settings{}, quick); err != nil {
				t.Errorf("benchmark %s (quick %v): %v", b.Name(), quick, err)
			}
		}
	}
}

// A driver refuses options it does not declare, also when made without a config file.
func TestNewRefusesUnknownOptions(t *testing.T) {
	for _, p := range runtime.Builtins() {
		p.Options = map[string]string{"no_such_option": "x"}
		if _, err := runtime.New(p, runtime.Env{Home: t.TempDir()}); err == nil {
			t.Errorf("driver %s took an unknown option", p.Driver)
		}
	}
}
