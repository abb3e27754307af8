package vmm

import (
	"context"
	"strings"
	"testing"
)

// Firecracker and Cloud Hypervisor were never run against their real binaries: doctor
// and every result must say so, also where the binary is missing.
func TestKVMOnlyVMMsSayTheyWereNeverRunForReal(t *testing.T) {
	st := CheckKVMOnlyVMM(context.Background(), "isobench-no-such-vmm", "install it")
	if got := st.Options[ValidationOption]; !strings.Contains(got, "never run against a real isobench-no-such-vmm binary") {
		t.Errorf("options[%s] = %q", ValidationOption, got)
	}
}
