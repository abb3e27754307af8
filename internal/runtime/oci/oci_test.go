package oci_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/gvisor"
	"github.com/isobench/isobench/internal/testutil"

	// Registers the runc, crun and runsc profiles driver() looks up.
	"github.com/isobench/isobench/internal/runtime/oci"
)

// driver returns a prepared driver for a built-in profile, or skips with the reason.
func driver(t *testing.T, name string, img *image.Image) runtime.Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	return benchtest.PreparedDriver(t, name, img)
}

var ociRuntimes = []string{"runc", "crun", "runsc"}

func TestContainersRunAndLeaveNothing(t *testing.T) {
	img := imagetest.Busybox(t)
	for _, name := range ociRuntimes {
		t.Run(name, func(t *testing.T) {
			d := driver(t, name, img)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			id := runtime.NamePrefix + "test-" + name
			out, err := bench.RunToExit(ctx, d, runtime.Spec{ID: id, Args: []string{"echo", "marker-" + name}})
			if err != nil {
				t.Fatalf("run: %v (stderr %q)", err, bench.StderrOf(err))
			}
			if got := strings.TrimSpace(string(out.Stdout)); got != "marker-"+name {
				t.Errorf("stdout = %q", got)
			}
			tm := out.Timings
			if tm.Create <= 0 || tm.StartToOutput <= 0 || tm.StartToExit < tm.StartToOutput || tm.Total < tm.Create+tm.StartToExit {
				t.Errorf("implausible timings %+v", tm)
			}
			assertGone(t, name, id)
		})
	}
}

func TestExitStatusAndStderr(t *testing.T) {
	img := imagetest.Busybox(t)
	for _, name := range ociRuntimes {
		t.Run(name, func(t *testing.T) {
			d := driver(t, name, img)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			id := runtime.NamePrefix + "exit-" + name
			_, err := bench.RunToExit(ctx, d, runtime.Spec{ID: id, Args: []string{"sh", "-c", "echo oops >&2; exit 3"}})
			if err == nil || !strings.Contains(err.Error(), "status 3") {
				t.Fatalf("err = %v, want exit status 3", err)
			}
			if !strings.Contains(bench.StderrOf(err), "oops") {
				t.Errorf("stderr not kept: %q", bench.StderrOf(err))
			}
			assertGone(t, name, id)
		})
	}
}

// TestWritableLayerIsPrivate: one container's writes must not reach the next one.
func TestWritableLayerIsPrivate(t *testing.T) {
	img := imagetest.Busybox(t)
	d := driver(t, "runc", img)
	ctx := context.Background()
	if _, err := bench.RunToExit(ctx, d, runtime.Spec{ID: runtime.NamePrefix + "w1", Args: []string{"sh", "-c", "echo x > /written"}}); err != nil {
		t.Fatal(err)
	}
	out, err := bench.RunToExit(ctx, d, runtime.Spec{ID: runtime.NamePrefix + "w2", Args: []string{"sh", "-c", "test -e /written && echo leaked || echo clean"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out.Stdout)); got != "clean" {
		t.Errorf("second container saw the first one's file: %q", got)
	}
}

func TestTimeoutKillsHungContainer(t *testing.T) {
	img := imagetest.Busybox(t)
	for _, name := range ociRuntimes {
		t.Run(name, func(t *testing.T) {
			d := driver(t, name, img)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			id := runtime.NamePrefix + "hang-" + name
			_, err := bench.RunToExit(ctx, d, runtime.Spec{ID: id, Args: []string{"sleep", "600"}})
			if err == nil {
				t.Fatal("a hung container did not fail at its timeout")
			}
			assertGone(t, name, id)
		})
	}
}

func TestNetworkNamespace(t *testing.T) {
	img := imagetest.Busybox(t)
	for _, name := range ociRuntimes {
		t.Run(name, func(t *testing.T) {
			d := driver(t, name, img)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := d.New(ctx, runtime.Spec{ID: runtime.NamePrefix + "net-" + name, Args: []string{"sleep", "30"}, Network: true})
			if err != nil {
				t.Fatal(err)
			}
			defer runtime.Remove(context.Background(), c)
			if err := c.Create(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			n := c.Network()
			ip, err := netip.ParseAddr(n.ContainerIP)
			if err != nil || !netip.MustParsePrefix("198.18.0.0/15").Contains(ip) {
				t.Fatalf("container address %q is not in 198.18.0.0/15", n.ContainerIP)
			}
			if name == "runsc" {
				if n.Stack != "gvisor-netstack" && n.Stack != "host-kernel-via-runsc" {
					t.Errorf("stack = %q, want gVisor's or the host's", n.Stack)
				}
				t.Logf("runsc network stack: %s", n.Stack)
			} else if n.Stack != "linux-veth" {
				t.Errorf("stack = %q, want linux-veth", n.Stack)
			}
			procs, err := c.Processes(ctx)
			if err != nil || len(procs) == 0 {
				t.Errorf("processes: %v %v", procs, err)
			}
			if err := runtime.Remove(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat("/var/run/netns/" + c.ID()); err == nil {
				t.Errorf("namespace %s left behind", c.ID())
			}
		})
	}
}

// assertGone checks that the runtime, the mount table and the state directory hold
// nothing of the container.
func assertGone(t *testing.T, runtimeName, id string) {
	t.Helper()
	args := []string{"list", "--quiet"}
	out, err := exec.Command(runtimeName, args...).CombinedOutput()
	if err == nil && strings.Contains(string(out), id) {
		t.Errorf("%s still lists %s", runtimeName, id)
	}
	if m := testutil.MountsUnder(t, "/"); containsSub(m, id) {
		t.Errorf("mounts of %s left behind", id)
	}
	if _, err := os.Stat(runtime.Env{Home: imagetest.Home(t)}.StateDir(id)); err == nil {
		t.Errorf("state directory of %s left behind", id)
	}
	if p, _ := exec.Command("pgrep", "-f", id).Output(); len(strings.TrimSpace(string(p))) > 0 {
		t.Errorf("processes of %s left behind: %s", id, p)
	}
}

func containsSub(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// TestDefaultImage runs the start-up workload from the default benchmark image (Debian)
// under each OCI runtime, as `isobench run` does.
func TestDefaultImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the default image")
	}
	img := imagetest.Default(t)
	for _, name := range ociRuntimes {
		t.Run(name, func(t *testing.T) {
			d := driver(t, name, img)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			id := runtime.NamePrefix + "default-" + name
			out, err := bench.RunToExit(ctx, d, runtime.Spec{ID: id, Args: []string{"sh", "-c", "echo isobench-ready; sysbench --version"}})
			if err != nil {
				t.Fatalf("run: %v (stderr %q)", err, bench.StderrOf(err))
			}
			if !strings.Contains(string(out.Stdout), "isobench-ready") || !strings.Contains(string(out.Stdout), "sysbench 1.") {
				t.Errorf("stdout = %q", out.Stdout)
			}
			assertGone(t, name, id)
		})
	}
}

// TestOldRunscUsesTheHostStack: a runsc that cannot start gVisor's own network stack on
// this kernel (Debian 12's, kept at /usr/bin/runsc when install-deps put a current one in
// /usr/local/bin) runs with the host kernel's stack in the container's namespace, says so,
// and the container reaches the host.
func TestOldRunscUsesTheHostStack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	const debianRunsc = "/usr/bin/runsc"
	version := gvisor.Version(debianRunsc)
	if version == "" {
		t.Skip(debianRunsc + " not installed (apt-get install runsc)")
	}
	if mode, why := gvisor.NetworkMode("", version); mode != gvisor.NetHost {
		t.Skipf("%s (%s) starts gVisor's own stack here: %s", debianRunsc, version, why)
	}
	p := runtime.Profile{Name: "runsc-debian", Driver: oci.DriverName, Binary: debianRunsc, Options: map[string]string{"platform": "ptrace"}}
	d, err := runtime.New(p, runtime.Env{Home: imagetest.Home(t), Subnet: netip.MustParsePrefix("198.18.0.0/15")})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.Check(context.Background()); !st.Usable {
		t.Fatalf("%s not usable: %s", debianRunsc, st.Problem)
	}
	if err := d.Prepare(context.Background(), imagetest.Busybox(t)); err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	probe, err := d.New(ctx, runtime.Spec{ID: runtime.NamePrefix + "oldrunsc-addr", Args: []string{"true"}, Network: true})
	if err != nil {
		t.Fatal(err)
	}
	n := probe.Network()
	if err := runtime.Remove(ctx, probe); err != nil {
		t.Fatal(err)
	}
	if n.Stack != "host-kernel-via-runsc" {
		t.Errorf("stack %q, want host-kernel-via-runsc", n.Stack)
	}
	// The same addresses come back for the next container, which talks to a TCP server on
	// the host side (gVisor's host mode has no raw sockets for ping). Listening on every
	// address: the host side of the veth exists only once New made it.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "reached from %s\n", conn.RemoteAddr().(*net.TCPAddr).IP)
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	out, err := bench.RunToExit(ctx, d, runtime.Spec{ID: runtime.NamePrefix + "oldrunsc-ping", Network: true,
		Args: []string{"nc", "-w", "5", n.HostIP, port}})
	if err != nil {
		t.Fatalf("connecting to the host: %v (stderr %q)", err, bench.StderrOf(err))
	}
	if !strings.Contains(string(out.Stdout), "reached from "+n.ContainerIP) {
		t.Errorf("stdout %q, want the server's answer to %s", out.Stdout, n.ContainerIP)
	}
	assertGone(t, debianRunsc, runtime.NamePrefix+"oldrunsc-ping")
}

// TestRunscNullNetnsIsUnpinned: a current runsc pins an empty network namespace in its
// state directory for containers without network; Close unmounts it when no container is
// left, so no mount stays on the host.
func TestRunscNullNetnsIsUnpinned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	d := benchtest.UsableDriver(t, "runsc")
	if err := d.Prepare(context.Background(), imagetest.Busybox(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := bench.RunToExit(ctx, d, runtime.Spec{ID: runtime.NamePrefix + "nullnetns", Args: []string{"true"}}); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, bench.StderrOf(err))
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The namespace is unpinned once no runsc container is left. Tests run under the host
	// lock, so another runsc container here is one a test or a run leaked: a failure.
	if out, _ := exec.Command("runsc", "list", "--quiet").Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("runsc containers are left on the host (%s): the null network namespace cannot be checked", strings.TrimSpace(string(out)))
	}
	for _, m := range testutil.MountsUnder(t, "/") {
		if strings.HasSuffix(m, "/runsc/null-netns") {
			t.Errorf("runsc's null network namespace still mounted: %s", m)
		}
	}
}
