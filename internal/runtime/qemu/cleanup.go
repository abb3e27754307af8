package qemu

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
)

// cleanup kills qemu processes that a killed run left and removes VM taps (vmm.SweepVMMs).
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	return vmm.SweepVMMs("qemu", leftoverQEMU)
}

// leftoverQEMU matches a qemu whose -name is a container id of isobench's.
func leftoverQEMU(argv []string) (string, bool) {
	if len(argv) == 0 || !strings.HasPrefix(filepath.Base(argv[0]), "qemu-system") {
		return "", false
	}
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == "-name" && strings.HasPrefix(argv[i+1], runtime.NamePrefix) {
			return argv[i+1], true
		}
	}
	return "", false
}
