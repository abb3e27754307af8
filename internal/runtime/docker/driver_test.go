package docker_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/docker"
	"github.com/isobench/isobench/internal/runtime/dockerapi"
	"github.com/isobench/isobench/internal/testutil/enginetest"
)

var subnet = enginetest.Subnet

func newDriver(t *testing.T, host, rt string) runtime.Driver {
	t.Helper()
	p := runtime.Profile{Name: "docker-" + rt, Driver: docker.DriverName,
		Options: map[string]string{"host": host, "runtime": rt, "oci_runtime": rt}}
	d, err := runtime.New(p, runtime.Env{Home: t.TempDir(), Subnet: subnet})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// labelled lists the containers and networks of the engine that carry isobench's label.
func labelled(t *testing.T, host string) []string {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	var out []string
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: dockerapi.ListFilter()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		out = append(out, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: dockerapi.ListFilter()})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		out = append(out, "network "+n.Name)
	}
	return out
}

func TestDockerRuntimes(t *testing.T) {
	host := enginetest.DockerHost(t)
	img := imagetest.Busybox(t)
	before := labelled(t, host)
	for _, rt := range []string{"runc", "crun", "runsc"} {
		t.Run(rt, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			d := newDriver(t, host, rt)
			st := d.Check(ctx)
			if !st.Usable {
				t.Skipf("docker-%s not usable: %s (fix: %s)", rt, st.Problem, st.Fix)
			}
			if st.Options["oci_runtime"] != rt {
				t.Errorf("Status.Options[oci_runtime] = %q, want %q", st.Options["oci_runtime"], rt)
			}
			if err := d.Prepare(ctx, img); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := d.Close(ctx); err != nil {
					t.Error(err)
				}
			}()
			enginetest.Lifecycle(t, ctx, d)
		})
	}
	if after := labelled(t, host); len(after) != len(before) {
		t.Errorf("isobench objects left in the engine: before %v, after %v", before, after)
	}
}

func TestDockerNotRunning(t *testing.T) {
	host := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	st := newDriver(t, host, "runc").Check(context.Background())
	want := "dockerd is not running at " + host
	if st.Usable || st.Problem != want || !strings.Contains(st.Fix, "dockerd") {
		t.Errorf("Check = usable %v, problem %q, fix %q; want problem %q", st.Usable, st.Problem, st.Fix, want)
	}
}

func TestDockerMissingRuntime(t *testing.T) {
	host := enginetest.DockerHost(t)
	st := newDriver(t, host, "no-such-runtime").Check(context.Background())
	if st.Usable || !strings.Contains(st.Problem, `no runtime "no-such-runtime"`) || !strings.Contains(st.Fix, "daemon.json") {
		t.Errorf("Check = usable %v, problem %q, fix %q", st.Usable, st.Problem, st.Fix)
	}
}

// TestDockerDaemonDies kills dockerd under a running container: Wait and Delete fail
// promptly instead of hanging, and a restarted daemon lets the container be removed.
func TestDockerDaemonDies(t *testing.T) {
	daemon := enginetest.StartDockerd(t, enginetest.ContainerdSocket(t))
	img := imagetest.Busybox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := newDriver(t, daemon.Address, "runc")
	if st := d.Check(ctx); !st.Usable {
		t.Fatalf("own dockerd not usable: %s", st.Problem)
	}
	if err := d.Prepare(ctx, img); err != nil {
		t.Fatal(err)
	}
	c, err := d.New(ctx, runtime.Spec{ID: fmt.Sprintf("%sdies-%d", runtime.NamePrefix, time.Now().UnixNano()), Args: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	daemon.Kill()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if _, err := c.Wait(wctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with dockerd dead = %v, want a connection error", err)
	}
	t0 := time.Now()
	if err := c.Delete(ctx); err == nil {
		t.Error("Delete with dockerd dead succeeded")
	} else if time.Since(t0) > 35*time.Second {
		t.Errorf("Delete took %v with dockerd dead", time.Since(t0))
	}
	st := d.Check(ctx)
	if st.Usable || !strings.Contains(st.Problem, "dockerd is not running at "+daemon.Address) {
		t.Errorf("Check with dockerd dead: problem %q", st.Problem)
	}
	// The restarted daemon still holds the container; the sweep removes it.
	daemon.Start(t)
	cli, err := client.NewClientWithOpts(client.WithHost(daemon.Address), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	removed, err := dockerapi.Sweep(ctx, cli, "test dockerd")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) == 0 {
		t.Error("the sweep found nothing, want the container left by the dead daemon")
	}
	t.Logf("swept: %v", removed)
	if left := labelled(t, daemon.Address); len(left) != 0 {
		t.Errorf("left after sweep: %v", left)
	}
}
