package strictyaml

import (
	"errors"
	"strings"
	"testing"
)

type inner struct {
	Mode string `yaml:"mode"`
}

type settings struct {
	Count int    `yaml:"count"`
	Name  string `yaml:"name"`
	inner `yaml:",inline"`
}

func (s settings) Validate() error {
	if s.Count < 0 {
		return errors.New("count must not be negative")
	}
	return OneOf("mode", s.Mode, "a", "b")
}

func TestDecode(t *testing.T) {
	s := settings{Count: 1, Name: "default"}
	if err := Decode(map[string]any{"count": 3, "mode": "b"}, &s); err != nil || s.Count != 3 || s.Name != "default" || s.Mode != "b" {
		t.Fatalf("Decode = %+v, %v", s, err)
	}
	for values, want := range map[string]map[string]any{
		`unknown key "cuont": allowed are count, mode, name`: {"cuont": 1},
		`mode: "c" is not one of a, b`:                       {"mode": "c"},
		"count must not be negative":                         {"count": -1},
		"cannot unmarshal":                                   {"count": "many"},
	} {
		err := Decode(want, &settings{})
		if err == nil || !strings.Contains(err.Error(), values) {
			t.Errorf("Decode(%v) = %v; want %q", want, err, values)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}
