package docker

import (
	"context"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/dockerapi"
)

func init() { runtime.RegisterCleaner(DriverName, cleanup) }

// cleanup sweeps every dockerd that a docker profile points to; a daemon that does not
// answer holds nothing isobench can remove now, so it is skipped.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	var sweep runtime.Sweep
	for _, p := range runtime.ProfilesOf(DriverName, profiles) {
		host := hostOf(p)
		if !sweep.First(host) {
			continue
		}
		d, err := New(p, env)
		if err != nil {
			continue
		}
		drv := d.(*dockerapi.Driver)
		if problem, _ := drv.Reachable(ctx); problem != "" {
			continue
		}
		cli, _ := drv.Client()
		sweep.Add(dockerapi.Sweep(ctx, cli, "dockerd at "+host))
		cli.Close()
	}
	return sweep.Result()
}
