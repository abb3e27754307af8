package docker

import (
	"context"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/dockerapi"
)

// sweepOf sweeps the dockerd the profile points to.
func sweepOf(ctx context.Context, env runtime.Env, p runtime.Profile) (runtime.ProfileSweep, error) {
	return runtime.ProfileSweep{Endpoint: hostOf(p), Run: func() ([]string, error) { return sweepDaemon(ctx, p, env) }}, nil
}

// sweepDaemon sweeps the dockerd profile p points to; a daemon that does not answer
// holds nothing isobench can remove now, so it is skipped.
func sweepDaemon(ctx context.Context, p runtime.Profile, env runtime.Env) ([]string, error) {
	d, err := New(p, env)
	if err != nil {
		return nil, err
	}
	drv := d.(*dockerapi.Driver)
	if problem, _ := drv.Reachable(ctx); problem != "" {
		return nil, nil
	}
	cli, err := drv.Client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return dockerapi.Sweep(ctx, cli, "dockerd at "+hostOf(p))
}
