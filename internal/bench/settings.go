package bench

import (
	"fmt"
	"strconv"
	"time"
)

// Settings are a benchmark's knobs from the config file, as strings, YAML numbers or
// durations ("10s"). Accessors take the default for a missing key.
type Settings map[string]any

// Duration reads a duration ("10s", "500ms", or a number of seconds).
func (s Settings) Duration(key string, def time.Duration) (time.Duration, error) {
	v, ok := s[key]
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case int:
		return time.Duration(x) * time.Second, nil
	case float64:
		return time.Duration(x * float64(time.Second)), nil
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("setting %s: %q is not a duration like 10s", key, x)
		}
		return d, nil
	}
	return 0, fmt.Errorf("setting %s: %v is not a duration like 10s", key, v)
}

// Int reads a whole number.
func (s Settings) Int(key string, def int) (int, error) {
	v, ok := s[key]
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case int:
		return x, nil
	case float64:
		if x == float64(int(x)) {
			return int(x), nil
		}
	case string:
		if n, err := strconv.Atoi(x); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("setting %s: %v is not a whole number", key, v)
}

// String reads a string.
func (s Settings) String(key, def string) string {
	v, ok := s[key]
	if !ok {
		return def
	}
	return fmt.Sprint(v)
}

// Ints reads a list of whole numbers ([1, 10, 50]).
func (s Settings) Ints(key string, def []int) ([]int, error) {
	v, ok := s[key]
	if !ok {
		return def, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("setting %s: %v is not a list of whole numbers like [1, 10]", key, v)
	}
	var out []int
	for _, e := range list {
		n, err := Settings{key: e}.Int(key, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
