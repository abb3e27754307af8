package runtime

import (
	"errors"
	"testing"
)

func TestSweepGathersOncePerEndpoint(t *testing.T) {
	var s Sweep
	if !s.First("a") || s.First("a") || !s.First("b") {
		t.Fatal("First does not see each endpoint exactly once")
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
