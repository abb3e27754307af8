package docker

import (
	"context"
	"errors"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/dockerapi"
)

func init() { runtime.RegisterCleaner(DriverName, cleanup) }

// cleanup sweeps every dockerd that a docker profile points to; a daemon that does not
// answer holds nothing isobench can remove now, so it is skipped.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	var removed []string
	var errs []error
	done := map[string]bool{}
	for _, p := range profiles {
		if p.Driver != DriverName {
			continue
		}
		host := p.Option("host", DefaultHost)
		if done[host] {
			continue
		}
		done[host] = true
		d, err := New(p, env)
		if err != nil {
			continue
		}
		drv := d.(*dockerapi.Driver)
		if problem, _ := drv.Reachable(ctx); problem != "" {
			continue
		}
		cli, _ := drv.Client()
		r, err := dockerapi.Sweep(ctx, cli, "dockerd at "+host)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, err)
		}
		cli.Close()
	}
	return removed, errors.Join(errs...)
}
