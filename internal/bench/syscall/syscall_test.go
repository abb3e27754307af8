package syscall_test

import (
	"testing"

	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/bench/syscall"
	"github.com/isobench/isobench/internal/image/imagetest"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
	_ "github.com/isobench/isobench/internal/runtime/qemu"
)

// TestOnEveryRuntime runs one quick trial through each usable built-in runtime; the probe
// is bound in, so the busybox image (no libc, no tools) is enough.
func TestOnEveryRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs containers")
	}
	bin := benchtest.Binary(t)
	img := imagetest.Busybox(t)
	settings := map[string]any{"min_time": "50ms", "spawns": 5}
	got := benchtest.RunOnRuntimes(t, syscall.Benchmark{}, img, settings, bin)
	host, runsc := got["host"], got["runsc"]
	if len(host) == 3 && len(runsc) == 3 && runsc[0].Value < 2*host[0].Value {
		t.Errorf("getpid under gVisor (%v ns) not clearly dearer than on the host (%v ns)", runsc[0].Value, host[0].Value)
	}
}
