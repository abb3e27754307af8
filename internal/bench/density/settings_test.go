package density

import (
	"errors"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench"
)

// Without the host's MemAvailable there is no memory budget: the trial fails instead of
// running its steps with a budget of zero (or none).
func TestNoMemAvailableNoBudget(t *testing.T) {
	defer func(f func() (uint64, error)) { memAvailable = f }(memAvailable)
	memAvailable = func() (uint64, error) { return 0, errors.New("injected: /proc/meminfo unreadable") }
	_, err := readSettings(&bench.Trial{Settings: bench.Settings{}, Quick: true})
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("readSettings = %v; want the MemAvailable error", err)
	}
	memAvailable = func() (uint64, error) { return 0, nil }
	if _, err := readSettings(&bench.Trial{Quick: true}); err == nil {
		t.Fatal("a MemAvailable of 0 gave a budget")
	}
	// A budget given by the run needs no MemAvailable.
	s, err := readSettings(&bench.Trial{Quick: true, MemoryBudget: 1 << 30})
	if err != nil || s.budget != 1<<30 {
		t.Fatalf("readSettings = %+v, %v", s, err)
	}
}
