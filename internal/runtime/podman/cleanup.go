package podman

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/docker/docker/client"

	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/dockerapi"
)

// cleanup stops the podman services killed runs left under env.Home/run, then removes
// isobench's containers, networks and images from podman's storage through a service of
// its own, and from every running service a profile's host option names.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	var sweep runtime.Sweep
	dirs, _ := filepath.Glob(filepath.Join(env.Home, "run", runtime.NamePrefix+"podman-*"))
	for _, dir := range dirs {
		killed, err := stopLeftService(dir)
		if killed {
			sweep.Add([]string{"podman service of " + dir}, nil)
		}
		sweep.Add(nil, err)
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		// Without podman nothing can be in its storage.
		return sweep.Result()
	}
	sweep.Add(runtime.ProfileCleaner(DriverName, sweepProfileService)(ctx, env, profiles))
	// Removing a container needs a runtime; podman finds runc, crun and runsc by name.
	cfg := serviceConfig{Dir: filepath.Join(env.Home, "run", runtime.NamePrefix+"podman-cleanup"), Podman: podman}
	for _, name := range []string{"crun", "runc", "runsc"} {
		if path, err := exec.LookPath(name); err == nil {
			cfg.RuntimeName, cfg.RuntimePath = name, path
			break
		}
	}
	if cfg.RuntimeName == "" {
		return sweep.Result()
	}
	svc, err := startService(ctx, cfg)
	if err != nil {
		sweep.Add(nil, fmt.Errorf("podman cleanup: %w", err))
		return sweep.Result()
	}
	defer svc.stop()
	sweep.Add(sweepService(ctx, cfg.host(), "podman"))
	sweep.Add(sweepAardvark(AardvarkDir))
	return sweep.Result()
}

// sweepProfileService sweeps the running podman service a profile's host option names.
func sweepProfileService(ctx context.Context, _ runtime.Env, p runtime.Profile) (runtime.ProfileSweep, error) {
	host := p.Option(runtime.OptionHost, "")
	return runtime.ProfileSweep{Endpoint: host, Run: func() ([]string, error) {
		if sock, ok := strings.CutPrefix(host, "unix://"); !ok || !answers(ctx, sock) {
			return nil, nil
		}
		return sweepService(ctx, host, "podman service at "+host)
	}}, nil
}

// sweepService removes isobench's objects through the podman service at host; where
// names it in what is removed and in errors.
func sweepService(ctx context.Context, host, where string) ([]string, error) {
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	defer cli.Close()
	return dockerapi.Sweep(ctx, cli, where)
}

// AardvarkDir is where netavark keeps the DNS server's view of rootful podman's networks.
const AardvarkDir = "/run/containers/networks/aardvark-dns"

// sweepAardvark removes the entries of isobench's networks from aardvark-dns's
// configuration, which a podman service killed mid-run leaves (its network is gone by
// now), and stops aardvark-dns when no network is left for it to serve: netavark would
// have done both on a normal teardown.
func sweepAardvark(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing aardvark-dns networks: %w", err)
	}
	var removed []string
	others := 0
	for _, e := range entries {
		switch {
		case e.Name() == "aardvark.pid":
		case strings.HasPrefix(e.Name(), runtime.NamePrefix):
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return removed, fmt.Errorf("removing aardvark-dns entry: %w", err)
			}
			removed = append(removed, "aardvark-dns entry "+e.Name())
		default:
			others++
		}
	}
	if len(removed) == 0 || others > 0 {
		return removed, nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, "aardvark.pid"))
	if err != nil {
		return removed, nil // not running
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return removed, nil
	}
	if !strings.Contains(strings.Join(procs.Cmdline(pid), " "), "aardvark-dns") {
		return removed, nil // a stale pid file
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return removed, fmt.Errorf("stopping aardvark-dns %d: %w", pid, err)
	}
	_ = os.Remove(filepath.Join(dir, "aardvark.pid"))
	return append(removed, fmt.Sprintf("aardvark-dns %d (served only isobench's networks)", pid)), nil
}
