package oci_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
)

// TestRunscLeavesNoZombies: runsc's helpers that outlive it are handed to isobench as
// subreaper; they must be reaped, or a long run piles up zombies.
func TestRunscLeavesNoZombies(t *testing.T) {
	img := imagetest.Busybox(t)
	d := driver(t, "runsc", img)
	for i := 0; i < 3; i++ {
		if _, err := bench.RunToExit(context.Background(), d, runtime.Spec{ID: fmt.Sprintf("%szombie-%d", runtime.NamePrefix, i), Args: []string{"echo", "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	d.Close(context.Background())
	for _, pid := range procs.Descendants(os.Getpid()) {
		if st, err := procs.ReadStat(pid); err == nil && st.State == "Z" {
			t.Errorf("zombie child left: %d (%s)", pid, st.Comm)
		}
	}
}
