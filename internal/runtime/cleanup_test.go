package runtime

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestSweepGathersOncePerEndpoint(t *testing.T) {
	var s Sweep
	if !s.first("a") || s.first("a") || !s.first("b") {
		t.Fatal("first does not see each endpoint exactly once")
	}
	s.Add([]string{"x"}, nil)
	s.Add(nil, errors.New("boom"))
	s.Add([]string{"y"}, errors.New("bang"))
	removed, err := s.Result()
	if len(removed) != 2 || err == nil || err.Error() != "boom\nbang" {
		t.Fatalf("Result = %v, %v", removed, err)
	}
	ps := ProfilesOf("oci", []Profile{{Name: "a", Driver: "oci"}, {Name: "b", Driver: "docker"}})
	if len(ps) != 1 || ps[0].Name != "a" {
		t.Fatalf("ProfilesOf = %v", ps)
	}
}

func TestProfileCleanerSweepsEachEndpointOnce(t *testing.T) {
	profiles := []Profile{
		{Name: "a", Driver: "engine", Options: map[string]string{"host": "one"}},
		{Name: "b", Driver: "engine", Options: map[string]string{"host": "one"}},
		{Name: "c", Driver: "engine", Options: map[string]string{"host": "two"}},
		{Name: "d", Driver: "engine", Options: map[string]string{"host": "bad"}},
		{Name: "e", Driver: "engine"},
		{Name: "f", Driver: "other", Options: map[string]string{"host": "three"}},
	}
	var swept []string
	clean := ProfileCleaner("engine", func(_ context.Context, _ Env, p Profile) (ProfileSweep, error) {
		host := p.Option("host", "")
		if host == "bad" {
			return ProfileSweep{}, errors.New("profile d: bad options")
		}
		return ProfileSweep{Endpoint: host, Run: func() ([]string, error) {
			swept = append(swept, p.Name)
			if host == "two" {
				return []string{"container of " + p.Name}, errors.New("two: busy")
			}
			return []string{"container of " + p.Name}, nil
		}}, nil
	})
	removed, err := clean(context.Background(), Env{}, profiles)
	if !slices.Equal(swept, []string{"a", "c"}) {
		t.Errorf("swept %v, want a and c: one per endpoint, none for no endpoint or another driver", swept)
	}
	if !slices.Equal(removed, []string{"container of a", "container of c"}) {
		t.Errorf("removed %v", removed)
	}
	if err == nil || err.Error() != "two: busy\nprofile d: bad options" {
		t.Errorf("error %v: want both the bad profile's and the failed sweep's", err)
	}
}
