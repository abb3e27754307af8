package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/gvisor"
)

// sweepOf sweeps the namespace isobench of the containerd at the profile's socket.
func sweepOf(ctx context.Context, _ runtime.Env, p runtime.Profile) (runtime.ProfileSweep, error) {
	opts := defaultOptions()
	if err := p.DecodeOptions(&opts); err != nil {
		return runtime.ProfileSweep{}, err
	}
	return runtime.ProfileSweep{Endpoint: opts.Socket, Run: func() ([]string, error) { return sweepSocket(ctx, opts.Socket) }}, nil
}

// sweepSocket sweeps the containerd at sock; one that does not answer is skipped.
func sweepSocket(ctx context.Context, sock string) ([]string, error) {
	// No socket, no daemon, and nothing of isobench's in it to remove.
	if _, err := os.Stat(strings.TrimPrefix(sock, "unix://")); err != nil {
		return nil, nil
	}
	c, err := containerd.New(sock, containerd.WithTimeout(3*time.Second), containerd.WithDefaultNamespace(Namespace))
	if err != nil {
		return nil, nil
	}
	defer c.Close()
	return Sweep(ctx, c, sock)
}

// killShim kills the containerd shim of isobench's container id; it tells whether there
// was one.
func killShim(id string) bool {
	pids, err := procs.All()
	if err != nil {
		return false
	}
	killed := false
	for _, pid := range pids {
		args := procs.Cmdline(pid)
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") || !slices.Contains(args, Namespace) {
			continue
		}
		if i := slices.Index(args, "-id"); i >= 0 && i+1 < len(args) && args[i+1] == id {
			killed = unix.Kill(pid, unix.SIGKILL) == nil || killed
		}
	}
	return killed
}

// waitTaskGone waits, up to ten seconds, until containerd no longer has ctr's task.
func waitTaskGone(ctx context.Context, ctr containerd.Container) error {
	for end := time.Now().Add(10 * time.Second); ; {
		_, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("task still there after its shim was killed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Sweep removes the namespace isobench's containers (with tasks and snapshots), their
// network namespaces, its images, and the namespace itself once empty.
func Sweep(ctx context.Context, c *containerd.Client, sock string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ctx = (&Driver{}).ctx(ctx)
	where := "containerd at " + sock
	var removed []string
	var errs []error
	ctrs, err := c.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: listing containers: %w", where, err)
	}
	for _, ctr := range ctrs {
		if !strings.HasPrefix(ctr.ID(), runtime.NamePrefix) {
			continue
		}
		if task, err := ctr.Task(ctx, nil); err == nil {
			_, err := task.Delete(ctx, containerd.WithProcessKill)
			if err != nil && !errdefs.IsNotFound(err) {
				// An exited runsc task cannot be killed, only deleted.
				_, err = task.Delete(ctx)
			}
			if err != nil && !errdefs.IsNotFound(err) && killShim(ctr.ID()) {
				// A shim whose runtime can no longer act on the container (a runsc sandbox
				// that died, a runtime binary since removed) keeps its task forever; once
				// the shim is gone containerd forgets the task.
				err = waitTaskGone(ctx, ctr)
			}
			if err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("%s: deleting task %s: %w", where, ctr.ID(), err))
			}
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: deleting container %s: %w", where, ctr.ID(), err))
			continue
		}
		removed = append(removed, fmt.Sprintf("%s container %s", where, ctr.ID()))
	}
	imgs, err := c.ImageService().List(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: listing images: %w", where, err))
	}
	for _, img := range imgs {
		if err := c.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: deleting image %s: %w", where, img.Name, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("%s image %s", where, img.Name))
	}
	if r, err := RemoveRuntimeRoot(ctx, c); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	} else if r != "" {
		removed = append(removed, r)
	}
	// The namespace goes when nothing is left in it; leftover content keeps it, harmlessly.
	if err := c.NamespaceService().Delete(ctx, Namespace); err == nil {
		removed = append(removed, fmt.Sprintf("%s namespace %s", where, Namespace))
	}
	return removed, errors.Join(errs...)
}

// RuntimeRoot is where the runc shim keeps the state of the namespace's containers: runc's,
// and runsc's through isobench's wrapper. A current runsc also pins its empty ("null")
// network namespace there, a bind mount that outlives every container.
const RuntimeRoot = "/run/containerd/runc/" + Namespace

// RemoveRuntimeRoot removes RuntimeRoot, the null network namespace unmounted first, once
// the namespace holds no container: what is left there then is stale (a killed create's
// lock and state files). It returns what it removed, "" when nothing.
func RemoveRuntimeRoot(ctx context.Context, c *containerd.Client) (string, error) {
	ctrs, err := c.Containers(namespaces.WithNamespace(ctx, Namespace))
	if err != nil {
		return "", fmt.Errorf("listing containers: %w", err)
	}
	if len(ctrs) > 0 {
		return "", nil
	}
	if _, err := os.Stat(RuntimeRoot); err != nil {
		return "", nil
	}
	gvisor.UnmountNullNetns(RuntimeRoot)
	if err := os.RemoveAll(RuntimeRoot); err != nil {
		return "", fmt.Errorf("removing runtime state %s: %w", RuntimeRoot, err)
	}
	return "runtime state " + RuntimeRoot, nil
}
