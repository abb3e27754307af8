package firecracker

import (
	"testing"

	"github.com/isobench/isobench/internal/runtime/vmm/vmmtest"
)

func TestCheckSaysWhyItIsUnusable(t *testing.T) {
	vmmtest.CheckSaysWhyItIsUnusable(t, DriverName, "firecracker", Install, New)
}
