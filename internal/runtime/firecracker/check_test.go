package firecracker

import (
	"testing"

	"github.com/isobench/isobench/internal/vm/vmtest"
)

func TestCheckSaysWhyItIsUnusable(t *testing.T) {
	vmtest.CheckSaysWhyItIsUnusable(t, DriverName, "firecracker", Install, New)
}
