package syscall_test

import (
	"testing"

	"github.com/isobench/isobench/internal/bench/syscall"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/probe/probetest"
)

func TestTmpManual(t *testing.T) {
	img := imagetest.Busybox(t)
	settings := map[string]any{syscall.SettingMinTime: "50ms", syscall.SettingSpawns: 5}
	probetest.RunOnRuntimes(t, syscall.Benchmark{}, img, settings, "/tmp/probe.test")
}
