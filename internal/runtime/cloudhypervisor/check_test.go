package cloudhypervisor

import (
	"testing"

	"github.com/isobench/isobench/internal/runtime/vmm/vmmtest"
)

func TestCheckSaysWhyItIsUnusable(t *testing.T) {
	vmmtest.CheckSaysWhyItIsUnusable(t, DriverName, "cloud-hypervisor", Install, New)
}
