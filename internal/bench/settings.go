package bench

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/isobench/isobench/internal/strictyaml"
)

// Settings are a benchmark's knobs as the config file gives them, by key; the benchmark
// decodes them into the settings struct it declares (see Configurable).
type Settings map[string]any

// Configurable is a benchmark with settings. DefaultSettings returns a pointer to its
// settings struct holding the defaults of a quick or a full run: the one place they live.
// A struct with a Validate() error method checks the values.
type Configurable interface {
	DefaultSettings(quick bool) any
}

// DecodeSettings is b's settings for a trial: its defaults with s over them. A key b
// does not declare is refused, naming the allowed keys; so is any key for a benchmark
// that has no settings.
func DecodeSettings(b Benchmark, s Settings, quick bool) (any, error) {
	c, ok := b.(Configurable)
	if !ok {
		if len(s) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("benchmark %s takes no settings", b.Name())
	}
	into := c.DefaultSettings(quick)
	if err := strictyaml.Decode(s, into); err != nil {
		return nil, fmt.Errorf("benchmark %s settings: %w", b.Name(), err)
	}
	return into, nil
}

// ReadSettings is the trial's settings of the benchmark c, whose settings struct is S:
// c's defaults of a quick or a full run with the config file's settings over them, checked.
func ReadSettings[S any](t *Trial, c Configurable) (*S, error) {
	into, ok := c.DefaultSettings(t.Quick).(*S)
	if !ok {
		return nil, fmt.Errorf("settings: the defaults are %T, not *%T", c.DefaultSettings(t.Quick), *new(S))
	}
	if err := t.Settings.Decode(into); err != nil {
		return nil, err
	}
	return into, nil
}

// Decode fills into, a pointer to the benchmark's settings struct holding its defaults,
// from s.
func (s Settings) Decode(into any) error {
	if err := strictyaml.Decode(s, into); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// Duration is a duration setting: "10s", "500ms", or a number of seconds.
type Duration time.Duration

// D is the duration as time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads "10s" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: not a duration like 10s", n.Line)
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		secs, err := strconv.ParseFloat(n.Value, 64)
		// Beyond about 292 years a float does not convert to a Duration: Go leaves that
		// conversion to the platform (a negative number on amd64).
		if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > math.MaxInt64/float64(time.Second) {
			return fmt.Errorf("line %d: %q is not a duration like 10s", n.Line, n.Value)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 10s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as "10s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
