package results

import (
	"maps"
	"testing"
)

func TestParamsCanonicalFormRoundTrips(t *testing.T) {
	for _, p := range []Params{
		{},
		{"threads": "4", "block": "1KiB"},
		{"a,b": "c=d", `back\slash`: `x\`, "empty": ""},
		{"n": "10", "list": "1,2,3"},
	} {
		s := p.String()
		back, err := ParseParams(s)
		if err != nil {
			t.Fatalf("%v -> %q: %v", p, s, err)
		}
		if !maps.Equal(back, p) {
			t.Errorf("%v -> %q -> %v", p, s, back)
		}
	}
	if got := (Params{"threads": "4", "block": "1KiB"}).String(); got != "block=1KiB,threads=4" {
		t.Errorf("plain params read %q", got)
	}
	for _, bad := range []string{"a", "a=b=c", `a=b\`, "a=1,a=2", "a=1,"} {
		if _, err := ParseParams(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestKeyOfLeavesTheTrialOut(t *testing.T) {
	a := KeyOf(Sample{Runtime: "runc", Benchmark: "b", Metric: "m", Trial: 1, Params: map[string]string{"n": "1", TrialParam: "1"}})
	b := KeyOf(Sample{Runtime: "runc", Benchmark: "b", Metric: "m", Trial: 2, Params: map[string]string{"n": "1", TrialParam: "2"}})
	if a != b || a.Params != "n=1" {
		t.Errorf("keys %+v and %+v", a, b)
	}
}

func TestSeriesSortKeepsTrials(t *testing.T) {
	s := &Series{}
	for i, v := range []float64{3, 1, 2, 1} {
		s.Add(v, i+1)
	}
	s.Sort()
	if s.Values[0] != 1 || s.Trials[0] != 2 || s.Values[1] != 1 || s.Trials[1] != 4 || s.Values[3] != 3 || s.Trials[3] != 1 {
		t.Errorf("sorted %v trials %v", s.Values, s.Trials)
	}
	if bt := s.ByTrial(); len(bt) != 4 || bt[1] != 3 {
		t.Errorf("by trial %v", bt)
	}
}
