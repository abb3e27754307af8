package firecracker

import (
	"context"
	"os/exec"
	"testing"

	"github.com/isobench/isobench/internal/runtime"
)

func TestCheckSaysWhyItIsUnusable(t *testing.T) {
	drv, err := New(runtime.Profile{Name: DriverName, Driver: DriverName}, runtime.Env{})
	if err != nil {
		t.Fatal(err)
	}
	st := drv.Check(context.Background())
	if _, err := exec.LookPath("firecracker"); err == nil {
		t.Skip("firecracker is installed")
	}
	if st.Usable || st.Problem == "" || st.Fix == "" || st.Problem != "firecracker not found" || st.Fix != Install {
		t.Fatalf("Check = %+v; want unusable with a problem and a fix", st)
	}
	if st.Class != runtime.ClassVM {
		t.Errorf("class %q, want vm", st.Class)
	}
	t.Logf("found=%v problem=%q fix=%q", st.Found, st.Problem, st.Fix)
}
