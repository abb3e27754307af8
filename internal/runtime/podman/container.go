package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/dockerapi"
)

// Container is one container in the podman service. It speaks the compat API like the
// docker driver's, but waits through libpod's endpoint: the compat wait learns of the exit
// from podman's events file, which podman polls every 250ms, so every run would seem to
// last at least a quarter second.
type Container struct {
	d       *Driver
	cli     *client.Client
	spec    runtime.Spec
	netMode string
	stack   string

	id        string // podman's container ID
	closeConn func()
	attached  chan struct{} // closed when the attach stream ended
	deleted   bool
	netInfo   *runtime.NetworkInfo
}

// ID implements runtime.Container.
func (c *Container) ID() string { return c.spec.ID }

func (c *Container) errorf(format string, args ...any) error {
	return fmt.Errorf("podman service at %s: %s: %w", c.d.engine.Host(), c.spec.ID, fmt.Errorf(format, args...))
}

// Create creates the container and attaches to its output before it starts, so that no
// output is missed. Attaching makes podman call the runtime's create.
func (c *Container) Create(ctx context.Context) error {
	cfg := dockerapi.ContainerConfig(c.d.imageRef, c.spec)
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(c.netMode), Resources: dockerapi.EngineResources(c.spec.Resources)}
	mounts, err := dockerapi.EngineMounts(c.spec.Mounts)
	if err != nil {
		return err
	}
	hc.Mounts = mounts
	c.id, c.closeConn, err = dockerapi.CreateAttached(ctx, c.cli, cfg, hc, c.spec, c.attached)
	if err != nil {
		return c.errorf("%w", err)
	}
	return nil
}

// Start implements runtime.Container.
func (c *Container) Start(ctx context.Context) error {
	if err := dockerapi.StartCreated(ctx, c.cli, c.id); err != nil {
		return c.errorf("%w", err)
	}
	return nil
}

// Wait returns the exit code once the container exited and its output is drained. libpod
// checks conmon's exit file every waitInterval.
func (c *Container) Wait(ctx context.Context) (int, error) {
	if c.id == "" {
		return -1, errors.New("container was not created")
	}
	q := url.Values{"condition": {"exited", "stopped"}, "interval": {c.d.waitInterval.String()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://podman/v4.0.0/libpod/containers/"+c.id+"/wait?"+q.Encode(), nil)
	if err != nil {
		return -1, c.errorf("wait: %w", err)
	}
	resp, err := c.d.libpod.Do(req)
	if err != nil {
		return -1, c.errorf("wait: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return -1, c.errorf("wait: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return -1, c.errorf("wait: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(body)))
	if err != nil {
		return -1, c.errorf("wait: exit code %q: %w", body, err)
	}
	dockerapi.DrainAttached(c.attached)
	return code, nil
}

// Delete force-removes the container with its anonymous volumes. A dead service makes it
// fail within 30 seconds rather than hang.
func (c *Container) Delete(ctx context.Context) error {
	if c.deleted {
		return nil
	}
	c.deleted = true
	if c.closeConn != nil {
		c.closeConn()
	}
	if err := dockerapi.RemoveContainer(ctx, c.cli, c.id, c.spec.ID); err != nil {
		return c.errorf("%w", err)
	}
	return nil
}

// Processes lists conmon, podman's per-container monitor, as the shim and everything
// under it: the workload, or gVisor's sandbox and gofer.
func (c *Container) Processes(ctx context.Context) ([]runtime.Process, error) {
	procs, err := dockerapi.ShimProcesses(ctx, c.cli, c.id)
	if err != nil {
		return nil, c.errorf("%w", err)
	}
	return procs, nil
}

// Network tells the container's address on the driver's network and the bridge's.
func (c *Container) Network() runtime.NetworkInfo {
	if c.netMode == "none" {
		return runtime.NetworkInfo{}
	}
	if c.netInfo != nil {
		return *c.netInfo
	}
	early := runtime.NetworkInfo{HostIP: c.d.engine.Gateway(), Stack: c.stack}
	if info, ok := dockerapi.StartedNetwork(c.cli, c.id, c.netMode, early); ok {
		c.netInfo = &info
		return info
	}
	return early
}

// unixHTTPClient talks HTTP to a unix socket, for libpod endpoints the Docker client lacks.
func unixHTTPClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}
