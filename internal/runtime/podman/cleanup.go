package podman

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/docker/docker/client"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/docker"
)

func init() { runtime.RegisterCleaner(DriverName, cleanup) }

// cleanup stops the podman services killed runs left under env.Home/run, then removes
// isobench's containers, networks and images from podman's storage through a service of
// its own, and from every running service a profile's host option names.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	var removed []string
	var errs []error
	dirs, _ := filepath.Glob(filepath.Join(env.Home, "run", runtime.NamePrefix+"podman-*"))
	for _, dir := range dirs {
		killed, err := stopLeftService(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if killed {
			removed = append(removed, "podman service of "+dir)
		}
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		// Without podman nothing can be in its storage.
		return removed, errors.Join(errs...)
	}
	sweep := func(host, where string) {
		cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			return
		}
		defer cli.Close()
		r, err := docker.Sweep(ctx, cli, where)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	done := map[string]bool{}
	for _, p := range profiles {
		host := p.Option("host", "")
		if p.Driver != DriverName || host == "" || done[host] {
			continue
		}
		done[host] = true
		if sock, ok := strings.CutPrefix(host, "unix://"); ok && answers(ctx, sock) {
			sweep(host, "podman service at "+host)
		}
	}
	// Removing a container needs a runtime; podman finds runc, crun and runsc by name.
	cfg := serviceConfig{Dir: filepath.Join(env.Home, "run", runtime.NamePrefix+"podman-cleanup"), Podman: podman}
	for _, name := range []string{"crun", "runc", "runsc"} {
		if path, err := exec.LookPath(name); err == nil {
			cfg.RuntimeName, cfg.RuntimePath = name, path
			break
		}
	}
	if cfg.RuntimeName == "" {
		return removed, errors.Join(errs...)
	}
	svc, err := startService(ctx, cfg)
	if err != nil {
		errs = append(errs, fmt.Errorf("podman cleanup: %w", err))
		return removed, errors.Join(errs...)
	}
	defer svc.stop()
	sweep(cfg.host(), "podman")
	return removed, errors.Join(errs...)
}
