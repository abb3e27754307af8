package podman_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/podman"
	"github.com/isobench/isobench/internal/testutil"
	"github.com/isobench/isobench/internal/testutil/enginetest"
)

func needPodman(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("podman tests need root (rootful podman service, netavark networks)")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman not installed: apt-get install podman")
	}
}

// shortHome is an isobench home under /tmp: the service socket lives in it, and
// t.TempDir's long paths overflow the 108-byte socket path limit.
func shortHome(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "isobench-podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newDriver(t *testing.T, home string, opts map[string]string) runtime.Driver {
	t.Helper()
	p := runtime.Profile{Name: "podman-" + opts["runtime"], Driver: podman.DriverName, Options: opts}
	d, err := runtime.New(p, runtime.Env{Home: home, Subnet: enginetest.Subnet})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// podmanList runs a podman listing with the system's configuration and returns its lines.
func podmanList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("podman", args...).Output()
	if err != nil {
		t.Fatalf("podman %v: %v", args, err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// leftovers lists isobench's containers, networks and images in podman's storage;
// networks through netavark, the backend isobench's services use.
func leftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, c := range podmanList(t, "ps", "-a", "--filter", "label=isobench=1", "--format", "{{.Names}}") {
		out = append(out, "container "+c)
	}
	for _, n := range podmanList(t, "--network-backend", "netavark", "network", "ls", "--filter", "label=isobench=1", "--format", "{{.Name}}") {
		out = append(out, "network "+n)
	}
	for _, i := range podmanList(t, "images", "--format", "{{.Repository}}:{{.Tag}}") {
		if strings.Contains(i, "isobench/") {
			out = append(out, "image "+i)
		}
	}
	// netavark keeps a bridge whose last container was not torn down through it.
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("listing links: %v", err)
	}
	for _, l := range links {
		if _, ok := l.(*netlink.Bridge); ok && strings.HasPrefix(l.Attrs().Name, runtime.LinkPrefix+"br") {
			out = append(out, "bridge "+l.Attrs().Name)
		}
	}
	// A killed service leaves its network in aardvark-dns's configuration, and with it
	// a DNS server running for nothing.
	entries, _ := os.ReadDir(podman.AardvarkDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), runtime.NamePrefix) {
			out = append(out, "aardvark-dns entry "+e.Name())
		}
	}
	return out
}

// sweep runs the podman cleaner as `isobench cleanup` does.
func sweep(t *testing.T, ctx context.Context, home string) []string {
	t.Helper()
	names, fns := runtime.Cleaners()
	for i, n := range names {
		if n == podman.DriverName {
			removed, err := fns[i](ctx, runtime.Env{Home: home, Subnet: enginetest.Subnet}, runtime.Builtins())
			if err != nil {
				t.Errorf("cleanup: %v", err)
			}
			return removed
		}
	}
	t.Fatal("no podman cleaner registered")
	return nil
}

func TestBuiltinProfiles(t *testing.T) {
	want := map[string]string{"podman-runc": "runc", "podman-crun": "crun", "podman-runsc": "runsc"}
	for _, p := range runtime.Builtins() {
		if p.Driver != podman.DriverName {
			continue
		}
		if rt, ok := want[p.Name]; !ok || p.Options["oci_runtime"] != rt || p.Options["runtime"] != rt {
			t.Errorf("unexpected built-in profile %+v", p)
		}
		delete(want, p.Name)
	}
	if len(want) != 0 {
		t.Errorf("built-in profiles missing: %v", want)
	}
}

func TestPodmanRuntimes(t *testing.T) {
	needPodman(t)
	img := imagetest.Busybox(t)
	home := shortHome(t)
	before := leftovers(t)
	if len(before) != 0 {
		t.Logf("isobench objects in podman before the test: %v", before)
	}
	for _, rt := range []string{"runc", "crun", "runsc"} {
		t.Run(rt, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			d := newDriver(t, home, map[string]string{"runtime": rt, "oci_runtime": rt})
			st := d.Check(ctx)
			if !st.Usable {
				t.Skipf("podman-%s not usable: %s (fix: %s)", rt, st.Problem, st.Fix)
			}
			if st.Options["oci_runtime"] != rt || st.Options["runtime_binary"] == "" || !strings.HasPrefix(st.Version, "podman ") {
				t.Errorf("Check = %+v", st)
			}
			if want := map[bool]runtime.Class{true: runtime.ClassSandbox, false: runtime.ClassContainer}[rt == "runsc"]; st.Class != want {
				t.Errorf("Class = %s, want %s", st.Class, want)
			}
			t0 := time.Now()
			if err := d.Prepare(ctx, img); err != nil {
				t.Fatal(err)
			}
			t.Logf("prepare (service start, image load) %v", time.Since(t0))
			svcDir := filepath.Join(home, "run", "isobench-podman-podman-"+rt)
			pid := servicePID(t, svcDir)
			closed := false
			defer func() {
				if !closed {
					d.Close(ctx)
				}
			}()
			enginetest.Lifecycle(t, ctx, d)
			checkRuntimeUsed(t, ctx, d, rt)
			logStartup(t, ctx, d)
			closed = true
			if err := d.Close(ctx); err != nil {
				t.Error(err)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				t.Errorf("podman service %d still runs after Close", pid)
			}
			if _, err := os.Stat(svcDir); !os.IsNotExist(err) {
				t.Errorf("service directory %s left after Close (%v)", svcDir, err)
			}
			if rt == "runsc" {
				// runsc's pinned null network namespace is shared, so it goes with the last runsc
				// container. Tests run under the host lock: another one here was leaked.
				others, err := exec.Command(st.Options["runtime_binary"], "list", "--quiet").Output()
				if err != nil {
					t.Fatalf("listing runsc containers: %v", err)
				}
				if len(strings.TrimSpace(string(others))) > 0 {
					t.Fatalf("runsc containers are left on the host (%s): the null network namespace cannot be checked", strings.TrimSpace(string(others)))
				}
				for _, m := range testutil.MountsUnder(t, "/") {
					if strings.HasSuffix(m, "/runsc/null-netns") {
						t.Errorf("runsc's null network namespace still mounted after Close: %s", m)
					}
				}
			}
		})
	}
	for _, l := range leftovers(t) {
		// Images stay in podman's storage for the next run; cleanup removes them.
		if !strings.HasPrefix(l, "image ") {
			t.Errorf("left after Close: %s", l)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Logf("cleanup removed %v", sweep(t, ctx, home))
	if left := leftovers(t); len(left) != 0 {
		t.Errorf("left after cleanup: %v", left)
	}
}

func servicePID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "service.pid"))
	if err != nil {
		t.Fatalf("service pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// checkRuntimeUsed runs a container and asks podman which OCI runtime it ran with (the
// compat API ignores HostConfig.Runtime; the service's default must be the profile's), and
// that its monitor is conmon.
func checkRuntimeUsed(t *testing.T, ctx context.Context, d runtime.Driver, rt string) {
	t.Helper()
	id := fmt.Sprintf("%sruntime-%d", runtime.NamePrefix, time.Now().UnixNano())
	c, err := d.New(ctx, runtime.Spec{ID: id, Args: []string{"sleep", "30"}})
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.Remove(ctx, c)
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "podman", "inspect", "--format", "{{.OCIRuntime}}", id).Output()
	if err != nil {
		t.Fatalf("podman inspect %s: %v", id, err)
	}
	if got := strings.TrimSpace(string(out)); got != rt {
		t.Errorf("container ran with OCI runtime %q, want %q", got, rt)
	}
	ps, err := c.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if comm := procs.Comm(p.PID); p.Role == "shim" && comm != "conmon" {
			t.Errorf("shim %d is %q, want conmon", p.PID, comm)
		}
	}
	if err := runtime.Remove(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// logStartup times a few runs of a container that prints one line, as the startup
// benchmark does.
func logStartup(t *testing.T, ctx context.Context, d runtime.Driver) {
	t.Helper()
	const runs = 7
	var create, output, exit, del []time.Duration
	for i := 0; i < runs; i++ {
		id := fmt.Sprintf("%sstartup-%d-%d", runtime.NamePrefix, time.Now().UnixNano(), i)
		out, err := bench.RunToExit(ctx, d, runtime.Spec{ID: id, Args: []string{"echo", "isobench-ready"}})
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		tm := out.Timings
		create, output, exit, del = append(create, tm.Create), append(output, tm.StartToOutput), append(exit, tm.StartToExit), append(del, tm.Delete)
	}
	t.Logf("%s startup, median of %d: create %v, start to output %v, start to exit %v, delete %v",
		d.Profile().Name, runs, median(create), median(output), median(exit), median(del))
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2].Round(100 * time.Microsecond)
}

func TestPodmanMissingRuntime(t *testing.T) {
	needPodman(t)
	d := newDriver(t, shortHome(t), map[string]string{"runtime": "/nonexistent/crun", "oci_runtime": "crun"})
	st := d.Check(context.Background())
	if st.Usable || st.Found || !strings.Contains(st.Problem, "/nonexistent/crun") || !strings.Contains(st.Fix, "runtime option") {
		t.Errorf("Check = usable %v, problem %q, fix %q", st.Usable, st.Problem, st.Fix)
	}
}

// TestPodmanServiceShared checks that a second driver of a profile reuses the running
// service and leaves it to the first, and that a service running another runtime is refused.
func TestPodmanServiceShared(t *testing.T) {
	needPodman(t)
	img := imagetest.Busybox(t)
	home := shortHome(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	first := newDriver(t, home, map[string]string{"runtime": "crun"})
	if st := first.Check(ctx); !st.Usable {
		t.Skipf("podman-crun not usable: %s", st.Problem)
	}
	if err := first.Prepare(ctx, img); err != nil {
		t.Fatal(err)
	}
	defer first.Close(ctx)
	svcDir := filepath.Join(home, "run", "isobench-podman-podman-crun")
	pid := servicePID(t, svcDir)

	second := newDriver(t, home, map[string]string{"runtime": "crun"})
	if st := second.Check(ctx); !st.Usable {
		t.Fatalf("second driver on the running service: %s", st.Problem)
	}
	if err := second.Prepare(ctx, img); err != nil {
		t.Fatal(err)
	}
	out, err := bench.RunToExit(ctx, second, runtime.Spec{ID: fmt.Sprintf("%sshared-%d", runtime.NamePrefix, time.Now().UnixNano()), Args: []string{"echo", "hi"}})
	if err != nil || string(out.Stdout) != "hi\n" {
		t.Fatalf("run on the shared service: %v", err)
	}
	if err := second.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := servicePID(t, svcDir); got != pid {
		t.Errorf("service pid %d, want %d", got, pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		t.Fatal("the second driver's Close stopped the first driver's service")
	}

	host := "unix://" + filepath.Join(svcDir, "podman.sock")
	wrong := newDriver(t, home, map[string]string{"runtime": "runc", "host": host})
	st := wrong.Check(ctx)
	if st.Usable || !strings.Contains(st.Problem, "runs every container with crun, not runc") {
		t.Errorf("Check on a crun service for runc = usable %v, problem %q", st.Usable, st.Problem)
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sweep(t, ctx, home)
	if left := leftovers(t); len(left) != 0 {
		t.Errorf("left after cleanup: %v", left)
	}
}

// TestPodmanCleanupAfterKilledRun leaves a running service, a container and a network
// behind, as a killed run would, and checks that the cleaner removes them all.
func TestPodmanCleanupAfterKilledRun(t *testing.T) {
	needPodman(t)
	img := imagetest.Busybox(t)
	home := shortHome(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := newDriver(t, home, map[string]string{"runtime": "crun"})
	if st := d.Check(ctx); !st.Usable {
		t.Skipf("podman-crun not usable: %s", st.Problem)
	}
	if err := d.Prepare(ctx, img); err != nil {
		t.Fatal(err)
	}
	svcDir := filepath.Join(home, "run", "isobench-podman-podman-crun")
	pid := servicePID(t, svcDir)
	c, err := d.New(ctx, runtime.Spec{ID: fmt.Sprintf("%skilled-%d", runtime.NamePrefix, time.Now().UnixNano()), Network: true, Args: []string{"sleep", "300"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	removed := sweep(t, ctx, home)
	t.Logf("cleanup removed %v", removed)
	// The test binary reaps it; a zombie counts as gone.
	if procs.Alive(pid) {
		t.Errorf("cleanup left the podman service %d running", pid)
	}
	if _, err := os.Stat(svcDir); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s (%v)", svcDir, err)
	}
	if left := leftovers(t); len(left) != 0 {
		t.Errorf("left after cleanup: %v", left)
	}
	// The driver's own Close finds nothing left to remove but must not hang.
	_ = d.Close(ctx)
}
