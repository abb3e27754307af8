package oci_test

import (
	"context"
	"fmt"
	"os"
	"strings"
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
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			t.Errorf("zombie child left: %s", stat)
		}
	}
}
