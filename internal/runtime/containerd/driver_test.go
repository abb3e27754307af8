package containerd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	ctrd "github.com/isobench/isobench/internal/runtime/containerd"
	"github.com/isobench/isobench/internal/testutil"
	"github.com/isobench/isobench/internal/testutil/enginetest"
)

func newDriver(t *testing.T, p runtime.Profile) runtime.Driver {
	t.Helper()
	d, err := runtime.New(p, runtime.Env{Home: t.TempDir(), Subnet: enginetest.Subnet})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// containers lists the namespace isobench's containers.
func containers(t *testing.T, sock string) []string {
	t.Helper()
	c, err := containerd.New(sock, containerd.WithDefaultNamespace(ctrd.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctrs, err := c.Containers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ctr := range ctrs {
		ids = append(ids, ctr.ID())
	}
	return ids
}

func TestContainerdRuntimes(t *testing.T) {
	sock := enginetest.ContainerdSocket(t)
	img := imagetest.Busybox(t)
	before := containers(t, sock)
	for _, oci := range []string{"runc", "crun", "runsc"} {
		t.Run(oci, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			d := newDriver(t, runtime.Profile{Name: "containerd-" + oci, Driver: ctrd.DriverName,
				Options: map[string]string{"socket": sock, "handler": "io.containerd.runc.v2", "oci_runtime": oci}})
			st := d.Check(ctx)
			if !st.Usable {
				t.Skipf("containerd-%s not usable: %s (fix: %s)", oci, st.Problem, st.Fix)
			}
			if err := d.Prepare(ctx, img); err != nil {
				t.Fatal(err)
			}
			defer d.Close(ctx)
			enginetest.Lifecycle(t, ctx, d)
		})
	}
	if after := containers(t, sock); len(after) != len(before) {
		t.Errorf("containers left in namespace %s: before %v, after %v", ctrd.Namespace, before, after)
	} else if len(after) == 0 {
		assertRuntimeRootGone(t)
	}
}

// assertRuntimeRootGone: with no container left, the runtime state directory and the null
// network namespace a current runsc pins there are gone too.
func assertRuntimeRootGone(t *testing.T) {
	t.Helper()
	if left := testutil.MountsUnder(t, ctrd.RuntimeRoot); len(left) > 0 {
		t.Errorf("mounts left under %s: %v", ctrd.RuntimeRoot, left)
	}
	if _, err := os.Stat(ctrd.RuntimeRoot); err == nil {
		t.Errorf("%s left", ctrd.RuntimeRoot)
	}
}

// TestContainerdSweep abandons a running container, as a killed run would, and checks
// that the sweep removes it and everything else in the namespace.
func TestContainerdSweep(t *testing.T) {
	sock := enginetest.ContainerdSocket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := newDriver(t, runtime.Profile{Name: "containerd-runc", Driver: ctrd.DriverName, Options: map[string]string{"socket": sock}})
	if st := d.Check(ctx); !st.Usable {
		t.Skipf("containerd-runc not usable: %s", st.Problem)
	}
	if err := d.Prepare(ctx, imagetest.Busybox(t)); err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	c, err := d.New(ctx, runtime.Spec{ID: fmt.Sprintf("%sabandoned-%d", runtime.NamePrefix, time.Now().UnixNano()), Args: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	client, err := containerd.New(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	removed, err := ctrd.Sweep(ctx, client, sock)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(removed, "\n"), c.ID()) {
		t.Errorf("sweep removed %v, not %s", removed, c.ID())
	}
	if left := containers(t, sock); len(left) != 0 {
		t.Errorf("left after sweep: %v", left)
	}
	assertRuntimeRootGone(t)
}

// TestContainerdVMProfiles runs the built-in Kata and firecracker-containerd profiles where
// they are installed, and otherwise checks that doctor gets a reason and a fix.
func TestContainerdVMProfiles(t *testing.T) {
	for _, p := range runtime.Builtins() {
		if p.Driver != ctrd.DriverName || (p.Name != "containerd-kata" && p.Name != "firecracker-containerd") {
			continue
		}
		t.Run(p.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			d := newDriver(t, p)
			st := d.Check(ctx)
			if st.Class != runtime.ClassVM {
				t.Errorf("class %q, want vm", st.Class)
			}
			if !st.Usable {
				if st.Problem == "" || st.Fix == "" {
					t.Errorf("not usable without problem and fix: %+v", st)
				}
				t.Skipf("%s not usable here: %s (fix: %s)", p.Name, st.Problem, st.Fix)
			}
			if p.Name == "containerd-kata" && st.Options["hypervisor"] == "" {
				t.Errorf("Kata status names no hypervisor: %v", st.Options)
			}
			if err := d.Prepare(ctx, imagetest.Busybox(t)); err != nil {
				t.Fatal(err)
			}
			defer d.Close(ctx)
			enginetest.Lifecycle(t, ctx, d)
		})
	}
}

func TestContainerdNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	st := newDriver(t, runtime.Profile{Name: "containerd-runc", Driver: ctrd.DriverName,
		Options: map[string]string{"socket": sock}}).Check(context.Background())
	if st.Usable || st.Problem != "containerd is not running at "+sock || !strings.Contains(st.Fix, "containerd") {
		t.Errorf("Check = usable %v, problem %q, fix %q", st.Usable, st.Problem, st.Fix)
	}
}
