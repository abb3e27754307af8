package interference

import (
	"context"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
)

// fakeDriver stands for a runtime in settings checks; limits says whether it implements
// runtime.ResourceLimiter.
type fakeDriver struct{ name string }

func (d fakeDriver) Profile() runtime.Profile                    { return runtime.Profile{Name: d.name, Driver: "fake"} }
func (d fakeDriver) Check(context.Context) runtime.Status        { return runtime.Status{Usable: true} }
func (d fakeDriver) Prepare(context.Context, *image.Image) error { return nil }
func (d fakeDriver) Close(context.Context) error                 { return nil }
func (d fakeDriver) New(context.Context, runtime.Spec) (runtime.Container, error) {
	panic("settings checks must not make containers")
}

type limitingDriver struct{ fakeDriver }

func (limitingDriver) CanLimit(r runtime.Resources) error { return nil }

func trial(settings bench.Settings, peers ...runtime.Driver) *bench.Trial {
	t := &bench.Trial{Runtime: peers[0].Profile().Name, Driver: peers[0], Quick: true, Settings: settings, Peers: map[string]runtime.Driver{}}
	for _, p := range peers {
		t.Peers[p.Profile().Name] = p
	}
	return t
}

func TestDefaultsResolveOnThisHost(t *testing.T) {
	for _, quick := range []bool{true, false} {
		s := Benchmark{}.DefaultSettings(quick).(*Settings)
		c, err := s.resolve()
		if err != nil {
			t.Fatalf("quick=%v: %v", quick, err)
		}
		if len(c.kinds) != len(Kinds) || c.victimCPUs != "0" {
			t.Fatalf("quick=%v: %+v", quick, c)
		}
		for _, p := range c.placements {
			if p.label == PlacementSeparate && strings.Contains(","+p.cpus+",", ",0,") {
				t.Fatalf("separate placement %q includes the victim's CPU 0", p.cpus)
			}
		}
	}
}

func TestBadSettingsAreRefusedWithTheirName(t *testing.T) {
	for _, tc := range []struct {
		s    bench.Settings
		want string
	}{
		{bench.Settings{"aggressors": []any{"cpu", "gpu"}}, `unknown aggressor "gpu"`},
		{bench.Settings{"counts": []any{0}}, "counts"},
		{bench.Settings{"counts": []any{}}, "must not be empty"},
		{bench.Settings{"victim_cpus": "4096"}, "victim_cpus"},
		{bench.Settings{"victim_cpus": "0-1023"}, "victim_cpus"},
		{bench.Settings{"placements": []any{"beside"}}, "placements"},
		{bench.Settings{"placements": []any{"cpus:9999"}}, "placements"},
		{bench.Settings{"victim_time": "1500ms"}, "victim_time"},
		{bench.Settings{"round_trips": 5}, "round_trips"},
		{bench.Settings{"aggressor_memory": "lots"}, "aggressor_memory"},
		{bench.Settings{"aggressor_memory": "4096GiB"}, "exceeds the host"},
		{bench.Settings{"victim_memory": "1MiB"}, "below the smallest"},
		{bench.Settings{"noise": 1}, "noise"},
	} {
		s := Benchmark{}.DefaultSettings(true).(*Settings)
		err := tc.s.Decode(s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("settings %v: got %v, want an error naming %q", tc.s, err, tc.want)
		}
	}
}

// TestPlacementSeparateNeedsAnotherCPU gives the victim every CPU this host offers.
func TestPlacementSeparateNeedsAnotherCPU(t *testing.T) {
	all, err := otherCPUs("4095")
	if err != nil {
		t.Skipf("cannot read this host's CPUs: %v", err)
	}
	if _, err := resolvePlacement(PlacementSeparate, all); err == nil || !strings.Contains(err.Error(), "offers none") {
		t.Fatalf("separate beside a victim on every CPU (%s): %v", all, err)
	}
}

func TestRuntimesAreCheckedBeforeAnythingStarts(t *testing.T) {
	victim := limitingDriver{fakeDriver{"runc"}}
	// Every runtime of the run is an aggressor runtime by default.
	c, err := readSettings(trial(nil, victim, limitingDriver{fakeDriver{"runsc"}}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.runtimes, ",") != "runc,runsc" {
		t.Fatalf("aggressor runtimes %v", c.runtimes)
	}
	c, err = readSettings(trial(bench.Settings{"aggressor_runtimes": []any{"same", "runc"}}, victim))
	if err != nil || strings.Join(c.runtimes, ",") != "runc" {
		t.Fatalf("same is the victim's runtime, once: %v %v", c.runtimes, err)
	}
	if _, err := readSettings(trial(bench.Settings{"aggressor_runtimes": []any{"kata"}}, victim)); err == nil || !strings.Contains(err.Error(), `"kata" is not one of this run's runtimes`) {
		t.Fatalf("unknown aggressor runtime: %v", err)
	}
	// A runtime that cannot pin CPUs is refused as victim and as aggressor.
	if _, err := readSettings(trial(nil, fakeDriver{"vm"})); err == nil || !strings.Contains(err.Error(), "does not support CPU sets") {
		t.Fatalf("victim on a driver without limits: %v", err)
	}
	if _, err := readSettings(trial(nil, victim, fakeDriver{"vm"})); err == nil || !strings.Contains(err.Error(), "aggressors on vm") {
		t.Fatalf("aggressors on a driver without limits: %v", err)
	}
}

func TestParseEventsPerSecond(t *testing.T) {
	out := []byte("CPU speed:\n    events per second:  1234.56\n\nGeneral statistics:\n    total time: 1.0001s\n")
	if v, err := ParseEventsPerSecond(out); err != nil || v != 1234.56 {
		t.Fatalf("got %v, %v", v, err)
	}
	for _, bad := range []string{"", "events per second: 0\n", "events per second: NaN\n", "events per second: 1e99\n"} {
		if _, err := ParseEventsPerSecond([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
