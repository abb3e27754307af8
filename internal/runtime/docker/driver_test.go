package docker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/enginetest"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/docker"
)

var subnet = netip.MustParsePrefix("198.18.0.0/15")

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
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: docker.ListFilter()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		out = append(out, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: docker.ListFilter()})
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
			runLifecycle(t, ctx, d)
		})
	}
	if after := labelled(t, host); len(after) != len(before) {
		t.Errorf("isobench objects left in the engine: before %v, after %v", before, after)
	}
}

// runLifecycle checks output, mounts, exit codes, processes and networking through a driver.
func runLifecycle(t *testing.T, ctx context.Context, d runtime.Driver) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("bound"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%secho-%d", runtime.NamePrefix, time.Now().UnixNano())
	out, err := bench.RunToExit(ctx, d, runtime.Spec{ID: id,
		Args: []string{"sh", "-c", "echo isobench-ready; cat /data/f; echo x > /scratch/y && cat /scratch/y"},
		Mounts: []runtime.Mount{
			{Type: "bind", Source: dir, Destination: "/data", ReadOnly: true},
			{Type: "tmpfs", Destination: "/scratch", SizeBytes: 1 << 20},
		}})
	if err != nil {
		t.Fatalf("echo: %v (stderr %q)", err, bench.StderrOf(err))
	}
	if got := string(out.Stdout); got != "isobench-ready\nboundx\n" {
		t.Errorf("stdout = %q", got)
	}
	tm := out.Timings
	if tm.StartToOutput <= 0 || tm.StartToOutput > tm.StartToExit {
		t.Errorf("start to output %v not within start to exit %v", tm.StartToOutput, tm.StartToExit)
	}
	t.Logf("%s: create %v, start to output %v, start to exit %v, delete %v, total %v",
		d.Profile().Name, tm.Create, tm.StartToOutput, tm.StartToExit, tm.Delete, tm.Total)

	out, err = bench.RunToExit(ctx, d, runtime.Spec{ID: id + "-exit3", Args: []string{"sh", "-c", "echo oops >&2; exit 3"}})
	if err == nil || out == nil || out.ExitCode != 3 {
		t.Errorf("exit 3: got outcome %+v, error %v", out, err)
	} else if !strings.Contains(bench.StderrOf(err), "oops") {
		t.Errorf("exit 3: stderr %q lacks oops", bench.StderrOf(err))
	}

	// A networked container: the host reaches a server in it, and its processes are known.
	if st := d.Check(ctx); st.Options["network"] == "none" {
		t.Logf("%s runs with --network=none: no networked container", d.Profile().Name)
		return
	}
	c, err := d.New(ctx, runtime.Spec{ID: id + "-net", Network: true, Args: []string{"nc", "-l", "-p", "7000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Delete(ctx)
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ni := c.Network()
	ip, err := netip.ParseAddr(ni.ContainerIP)
	if err != nil || !subnet.Contains(ip) || ni.HostIP == "" {
		t.Fatalf("Network() = %+v, want a container address in %s and a host address", ni, subnet)
	}
	procs, err := c.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, p := range procs {
		roles[p.Role]++
	}
	if roles["shim"] != 1 || roles["workload"]+roles["sandbox"] == 0 {
		t.Errorf("Processes() = %+v: want one shim and the workload or sandbox", procs)
	}
	var conn net.Conn
	for i := 0; i < 50; i++ {
		if conn, err = net.DialTimeout("tcp", net.JoinHostPort(ni.ContainerIP, "7000"), time.Second); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("connecting to the container at %s: %v", ni.ContainerIP, err)
	} else {
		conn.Close()
	}
	t.Logf("network %+v, processes %+v", ni, procs)
	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
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
	removed, err := docker.Sweep(ctx, cli, "test dockerd")
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
