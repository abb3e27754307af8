package oci_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
)

const (
	unifiedControllers = "/sys/fs/cgroup/unified/cgroup.controllers"
	hugetlbMount       = "/sys/fs/cgroup/hugetlb"
)

// crunCgroups runs install-deps.sh's crun decision (scripts/crun-cgroups.sh) with arg.
func crunCgroups(t *testing.T, arg string) (string, int) {
	t.Helper()
	script, err := filepath.Abs("../../../scripts/crun-cgroups.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(script, arg).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("running %s %s: %v", script, arg, err)
		return "", -1
	}
}

// TestCrunFixOnPristineHybridHost puts a hybrid-cgroup host back into its state before
// install-deps.sh (hugetlb on cgroup v2), runs install-deps.sh's crun decision and fix,
// and checks that crun then runs a container. The hugetlb mount is restored afterwards.
// The host lock must be held (scripts/test.sh runs packages one at a time).
func TestCrunFixOnPristineHybridHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unmounts and mounts the hugetlb cgroup")
	}
	if mode := hostinfo.CgroupMode(); mode != "hybrid" {
		t.Skipf("cgroups are %s here, not hybrid: crun's hybrid-mode refusal cannot happen", mode)
	}
	if _, err := exec.LookPath("crun"); err != nil {
		t.Fatal("crun is not installed: scripts/install-deps.sh installs it")
	}
	wasMounted, err := mountinfo.Mounted(hugetlbMount)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checking %s: %v", hugetlbMount, err)
	}
	t.Cleanup(func() {
		now, _ := mountinfo.Mounted(hugetlbMount)
		switch {
		case wasMounted && !now:
			if err := os.MkdirAll(hugetlbMount, 0o755); err != nil {
				t.Errorf("restoring %s: %v", hugetlbMount, err)
			}
			if err := unix.Mount("cgroup", hugetlbMount, "cgroup", 0, "hugetlb"); err != nil {
				t.Errorf("restoring the hugetlb mount at %s: %v", hugetlbMount, err)
			}
		case !wasMounted && now:
			if err := unix.Unmount(hugetlbMount, 0); err != nil {
				t.Errorf("restoring the pristine state (hugetlb on cgroup v2): %v", err)
			}
		}
	})
	if wasMounted {
		// The v1 hierarchy goes (and hugetlb back to v2) only once it has no child
		// cgroups: engines leave empty ones (docker/, libpod_parent/, ...). Busy ones
		// stay, and the test then says which.
		if busy := removeEmptyCgroups(t, hugetlbMount); len(busy) > 0 {
			t.Skipf("hugetlb cgroups with processes in them keep its v1 hierarchy alive, so the pristine state cannot be made now (%d, e.g. %s)", len(busy), busy[0])
		}
		if err := unix.Unmount(hugetlbMount, 0); err != nil {
			t.Fatalf("unmounting %s to get the pristine state: %v", hugetlbMount, err)
		}
	}
	// The kernel tears the v1 hierarchy down after the unmount returns.
	var raw []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if raw, err = os.ReadFile(unifiedControllers); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "hugetlb") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(string(raw), "hugetlb") {
		t.Skipf("hugetlb did not return to cgroup v2 after unmounting its v1 hierarchy (it still has child cgroups?): %s holds %q", unifiedControllers, raw)
	}
	// Why a size test cannot decide: cgroupfs reports every file as empty.
	if st, err := os.Stat(unifiedControllers); err != nil || st.Size() != 0 {
		t.Logf("%s reports size %v (%v)", unifiedControllers, st.Size(), err)
	}

	out, code := crunCgroups(t, "check")
	if code != 0 || !strings.Contains(out, "hugetlb") {
		t.Fatalf("crun-cgroups.sh check on the pristine host: exit %d, %q; want exit 0 naming hugetlb", code, out)
	}
	if st := crunStatus(t); st.Usable {
		t.Errorf("crun reported usable while hugetlb sits on cgroup v2")
	}

	out, code = crunCgroups(t, "apply")
	if code != 0 {
		t.Fatalf("crun-cgroups.sh apply: exit %d: %s", code, out)
	}
	if mounted, _ := mountinfo.Mounted(hugetlbMount); !mounted {
		t.Fatalf("apply did not mount hugetlb at %s: %s", hugetlbMount, out)
	}
	if out, code := crunCgroups(t, "check"); code != 1 {
		t.Errorf("check after apply: exit %d, %q; want 1 (crun runs)", code, out)
	}
	if out, code := crunCgroups(t, "apply"); code != 0 || strings.Contains(out, "mounted") {
		t.Errorf("a second apply: exit %d, %q; want a no-op", code, out)
	}

	// crun itself must now run a container.
	img := imagetest.Busybox(t)
	d := benchtest.PreparedDriver(t, "crun", img)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := runtime.NamePrefix + "crunfix-test"
	res, err := bench.RunToExit(ctx, d, runtime.Spec{ID: id, Args: []string{"echo", "crun-ran"}})
	if err != nil {
		t.Fatalf("crun after the fix: %v (stderr %q)", err, bench.StderrOf(err))
	}
	if got := strings.TrimSpace(string(res.Stdout)); got != "crun-ran" {
		t.Errorf("stdout = %q", got)
	}
	assertGone(t, "crun", id)
}

func crunStatus(t *testing.T) runtime.Status {
	t.Helper()
	for _, p := range runtime.Builtins() {
		if p.Name == "crun" {
			d, err := runtime.New(p, runtime.Env{Home: imagetest.Home(t)})
			if err != nil {
				t.Fatal(err)
			}
			return d.Check(context.Background())
		}
	}
	t.Fatal("no built-in crun profile")
	return runtime.Status{}
}

// removeEmptyCgroups removes every child cgroup below root, deepest first, when none of
// them holds a process; otherwise it removes nothing. It returns the cgroups in the way.
func removeEmptyCgroups(t *testing.T, root string) (busy []string) {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", root, err)
	}
	// Nothing is removed while any cgroup holds a process: a half-removed tree would
	// break whoever runs there (a local Kubernetes cluster, say).
	for _, d := range dirs {
		procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil || len(strings.TrimSpace(string(procs))) > 0 {
			busy = append(busy, d)
		}
	}
	if len(busy) > 0 {
		return busy
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil {
			busy = append(busy, fmt.Sprintf("%s (%v)", dirs[i], err))
		}
	}
	return busy
}
