package memory_test

import (
	"testing"

	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/bench/memory"
	"github.com/isobench/isobench/internal/image/imagetest"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
	_ "github.com/isobench/isobench/internal/runtime/qemu"
)

// TestOnEveryRuntime runs one quick trial through each usable built-in runtime with the
// default image (which has the tools).
func TestOnEveryRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs containers")
	}
	img := imagetest.Default(t)
	benchtest.RunOnRuntimes(t, memory.Benchmark{}, img, map[string]any{"time": "1s"}, "")
}
