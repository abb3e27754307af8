package cli

import (
	"errors"
	"strings"

	"github.com/isobench/isobench/internal/config"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runner"

	// Drivers and benchmarks register themselves.
	_ "github.com/isobench/isobench/internal/bench/cpu"
	_ "github.com/isobench/isobench/internal/bench/density"
	_ "github.com/isobench/isobench/internal/bench/disk"
	_ "github.com/isobench/isobench/internal/bench/http"
	_ "github.com/isobench/isobench/internal/bench/interference"
	_ "github.com/isobench/isobench/internal/bench/memory"
	_ "github.com/isobench/isobench/internal/bench/network"
	_ "github.com/isobench/isobench/internal/bench/nginx"
	_ "github.com/isobench/isobench/internal/bench/postgres"
	_ "github.com/isobench/isobench/internal/bench/redis"
	_ "github.com/isobench/isobench/internal/bench/startup"
	_ "github.com/isobench/isobench/internal/bench/syscall"
	_ "github.com/isobench/isobench/internal/runtime/cloudhypervisor"
	_ "github.com/isobench/isobench/internal/runtime/containerd"
	_ "github.com/isobench/isobench/internal/runtime/docker"
	_ "github.com/isobench/isobench/internal/runtime/firecracker"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/kubernetes"
	_ "github.com/isobench/isobench/internal/runtime/oci"
	_ "github.com/isobench/isobench/internal/runtime/podman"
	_ "github.com/isobench/isobench/internal/runtime/qemu"
)

// loadConfig reads --config; a bad file is bad input.
func loadConfig() (*config.Config, error) {
	c, err := config.Load(global.config)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return c, nil
}

func home() string { return image.Home(global.home) }

// splitList splits "a,b, c" into its items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// asExit maps runner errors to exit statuses: input problems are 2.
func asExit(err error) error {
	var ie *runner.InputError
	if errors.As(err, &ie) {
		return &ExitError{Code: 2, Err: err}
	}
	return err
}
