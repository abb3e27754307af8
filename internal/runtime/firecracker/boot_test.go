package firecracker

import (
	"testing"

	"github.com/isobench/isobench/internal/vm/vmtest"
)

// TestBootRunsWorkload needs firecracker and a KVM that runs ordinary guests; where
// either is missing it skips with Check's reason.
func TestBootRunsWorkload(t *testing.T) {
	vmtest.BootRunsWorkload(t, DriverName, "firecracker", New)
}
