package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/isobench/isobench/internal/runtime"
)

// Sweep removes from one engine the containers and networks labelled isobench=1 whose
// names start with isobench-, and the images tagged isobench/...; where names the engine.
func Sweep(ctx context.Context, cli *client.Client, where string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var removed []string
	var errs []error
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: ListFilter()})
	if err != nil {
		return nil, fmt.Errorf("%s: listing containers: %w", where, err)
	}
	for _, c := range cs {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		if !strings.HasPrefix(name, runtime.NamePrefix) {
			continue
		}
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: removing container %s: %w", where, name, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("%s container %s", where, name))
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: ListFilter()})
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: listing networks: %w", where, err))
	}
	for _, n := range nets {
		if !strings.HasPrefix(n.Name, runtime.NamePrefix) {
			continue
		}
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: removing network %s: %w", where, n.Name, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("%s network %s", where, n.Name))
		if err := RemoveBridge(n.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	imgs, err := cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: listing images: %w", where, err))
	}
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			// podman prefixes short names with localhost/.
			if !strings.HasPrefix(strings.TrimPrefix(tag, "localhost/"), ImageRepo) {
				continue
			}
			if _, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}); err != nil && !client.IsErrNotFound(err) {
				errs = append(errs, fmt.Errorf("%s: removing image %s: %w", where, tag, err))
				continue
			}
			removed = append(removed, fmt.Sprintf("%s image %s", where, tag))
		}
	}
	return removed, errors.Join(errs...)
}
