package results

import (
	"context"
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

// A series carries what its run's environment.json declares about it, and failed
// trials are counted against the trials that gave samples.
func TestLoadDatasetCarriesDeclarationsAndFailureShares(t *testing.T) {
	dir := t.TempDir() + "/run"
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for trial := 1; trial <= 4; trial++ {
		if err := w.AddSample(Sample{Host: "h", Runtime: "runc", Benchmark: "density", Metric: "mem", Unit: "MiB", Better: Lower,
			Value: float64(trial), Trial: trial, Params: map[string]string{"n": "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddFailure(Failure{Host: "h", Runtime: "runc", Benchmark: "density", Trial: 5, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	env := Environment{Runtimes: map[string]RuntimeInfo{"runc": {Emulated: true}},
		Metrics: []MetricInfo{{Benchmark: "density", Name: "mem", Caveat: "host-wide"}}}
	if err := w.WriteEnvironment(env); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDataset(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Series[SeriesKey{Host: "h", Runtime: "runc", Benchmark: "density", Metric: "mem", Params: "n=1"}]
	if s == nil || s.Caveat != "host-wide" || !s.Emulated || len(s.Values) != 4 {
		t.Fatalf("series %+v", s)
	}
	if ok := d.Succeeded[TrialKey{"h", "runc", "density"}]; ok != 4 || len(d.Failures) != 1 || d.Failures[0].Count != 1 || d.Failures[0].FirstError != "boom" {
		t.Errorf("succeeded %d, failures %+v; want 4 and one", ok, d.Failures)
	}
}
