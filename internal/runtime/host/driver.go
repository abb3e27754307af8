// Package host is the baseline without isolation: the workload runs as a plain process
// chrooted into the same image root filesystem, with no namespaces and no cgroups.
package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/mounts"
	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/overlay"
)

// DriverName is the driver kind of the host baseline.
const DriverName = "host"

func init() {
	runtime.Register(DriverName, New, runtime.Profile{Name: "host", Driver: DriverName,
		Description: "no isolation: a plain process chrooted into the image (the baseline)"})
}

// Driver runs workloads as chrooted host processes.
type Driver struct {
	profile runtime.Profile
	env     runtime.Env
	rootfs  string
}

// New makes the host driver.
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	// The host driver takes no options.
	if err := runtime.CheckOptions(p); err != nil {
		return nil, err
	}
	return &Driver{profile: p, env: env}, nil
}

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// Check implements runtime.Driver: the host is always there.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	st := runtime.Status{Found: true, Class: runtime.ClassProcess, Options: map[string]string{runtime.OptionNetwork: "host-loopback"}}
	if os.Geteuid() != 0 {
		st.Problem, st.Fix = "chroot needs root", "run isobench as root"
		return st
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		st.Version = "linux " + unix.ByteSliceToString(u.Release[:])
	}
	st.Usable = true
	return st
}

// Prepare implements runtime.Driver.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error {
	root, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("unpacking image %s: %w", img.Name, err)
	}
	d.rootfs = root
	return nil
}

// Close implements runtime.Driver.
func (d *Driver) Close(ctx context.Context) error { return nil }

// New implements runtime.Driver: an overlay of the image with /proc, /sys and /dev bound
// in, since a chroot alone has none of them.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (_ runtime.Container, err error) {
	if d.rootfs == "" {
		return nil, errors.New("driver not prepared: call Prepare first")
	}
	if len(s.Args) == 0 {
		return nil, fmt.Errorf("container %s: no command to run", s.ID)
	}
	c := &process{spec: s, dir: d.env.StateDir(s.ID)}
	ok := false
	defer func() {
		if !ok {
			err = errors.Join(err, mounts.UnmountAll(c.dir))
		}
	}()
	root, err := overlay.Mount(d.rootfs, c.dir)
	if err != nil {
		return nil, err
	}
	c.root = root
	binds := []runtime.Mount{
		{Type: "bind", Source: "/proc", Destination: "/proc"},
		{Type: "bind", Source: "/sys", Destination: "/sys", ReadOnly: true},
		{Type: "bind", Source: "/dev", Destination: "/dev"},
		{Type: "tmpfs", Destination: "/tmp"},
	}
	for _, m := range append(binds, s.Mounts...) {
		if err := mountInto(root, m); err != nil {
			return nil, err
		}
	}
	ok = true
	return c, nil
}

func mountInto(root string, m runtime.Mount) error {
	target := filepath.Join(root, m.Destination)
	switch m.Type {
	case "bind":
		st, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		if st.IsDir() {
			err = os.MkdirAll(target, 0o755)
		} else {
			err = touch(target)
		}
		if err != nil {
			return fmt.Errorf("making mount point %s: %w", target, err)
		}
		if err := unix.Mount(m.Source, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s at %s: %w", m.Source, target, err)
		}
		if m.ReadOnly {
			if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("making %s read-only: %w", target, err)
			}
		}
	case "tmpfs":
		if err := os.MkdirAll(target, 0o1777); err != nil {
			return fmt.Errorf("making mount point %s: %w", target, err)
		}
		opts := "mode=1777"
		if m.SizeBytes > 0 {
			opts += ",size=" + strconv.FormatInt(m.SizeBytes, 10)
		}
		if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mounting tmpfs at %s: %w", target, err)
		}
	default:
		return fmt.Errorf("mount type %q is not supported (bind or tmpfs)", m.Type)
	}
	return nil
}

func touch(p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

type process struct {
	spec    runtime.Spec
	dir     string
	root    string
	cmd     *exec.Cmd
	deleted bool
}

func (p *process) ID() string { return p.spec.ID }

// RuntimeSteps implements runtime.StepReporter: without a runtime there is no create or
// delete step.
func (p *process) RuntimeSteps() (create, delete bool) { return false, false }

// Create has nothing to do on the host: there is no runtime.
func (p *process) Create(ctx context.Context) error { return nil }

// Start forks and execs the workload in the chroot.
func (p *process) Start(ctx context.Context) error {
	env := p.spec.Env
	if !hasPath(env) {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	cwd := p.spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	cmd := &exec.Cmd{
		Path:   p.spec.Args[0],
		Args:   p.spec.Args,
		Env:    env,
		Dir:    cwd,
		Stdout: p.spec.Stdout,
		Stderr: p.spec.Stderr,
		// Setpgid so that Delete can kill everything the workload forked.
		SysProcAttr: &syscall.SysProcAttr{Chroot: p.root, Setpgid: true},
	}
	if !strings.Contains(cmd.Path, "/") {
		// exec.LookPath would search the host's PATH, not the chroot's.
		path, err := lookPathIn(p.root, cmd.Path, env)
		if err != nil {
			return err
		}
		cmd.Path = path
	}
	if err := runtime.StartPinned(cmd, p.spec.Resources.CPUs); err != nil {
		return fmt.Errorf("starting %s: %w", p.spec.Args[0], err)
	}
	p.cmd = cmd
	return nil
}

// CanLimit implements runtime.ResourceLimiter: CPU sets through the workload's affinity;
// memory limits need a cgroup, which the baseline must not have.
func (d *Driver) CanLimit(r runtime.Resources) error {
	if r.MemoryBytes > 0 {
		return errors.New("the host baseline runs its workload without cgroups, so it cannot limit memory")
	}
	return nil
}

func lookPathIn(root, name string, env []string) (string, error) {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			for _, dir := range filepath.SplitList(v) {
				cand := filepath.Join(dir, name)
				if st, err := os.Stat(filepath.Join(root, cand)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
					return cand, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: not found in the image's PATH", name)
}

func hasPath(env []string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return true
		}
	}
	return false
}

// Wait implements runtime.Container.
func (p *process) Wait(ctx context.Context) (int, error) {
	if p.cmd == nil {
		return -1, errors.New("process was not started")
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if code, ok := procs.ExitStatus(err); ok {
			return code, nil
		}
		return -1, err
	case <-ctx.Done():
		p.kill()
		<-done
		return -1, fmt.Errorf("waiting for %s: %w", p.spec.ID, ctx.Err())
	}
}

// kill ends the workload's process group, every descendant, and every process still
// chrooted into its root: a workload that calls setsid (fio's job processes do) leaves
// the group, and one whose parent exited is no one's descendant any more.
func (p *process) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	for _, d := range procs.Descendants(p.cmd.Process.Pid) {
		// ESRCH only means it already ended.
		_ = unix.Kill(d, unix.SIGKILL)
	}
	_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
	for _, pid := range chrootedInto(p.root) {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

// chrootedInto lists the processes whose root directory is root. Only this driver
// chroots there, so they are all the workload's.
func chrootedInto(root string) []int {
	pids, err := procs.All()
	if err != nil || root == "" {
		return nil
	}
	var in []int
	for _, pid := range pids {
		// The link's text is the root's path; it is read, never followed.
		if r, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/root"); err == nil && r == root {
			in = append(in, pid)
		}
	}
	return in
}

// Delete kills what is left of the workload; Release removes the chroot's mounts.
func (p *process) Delete(ctx context.Context) error {
	if p.deleted {
		return nil
	}
	p.deleted = true
	if p.cmd != nil && p.cmd.ProcessState == nil {
		p.kill()
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	} else if p.cmd != nil {
		// The leader exited; what it forked may still run.
		p.kill()
	}
	return nil
}

// Release deletes the process if needed and removes the chroot's mounts.
func (p *process) Release(ctx context.Context) error {
	return errors.Join(p.Delete(ctx), mounts.UnmountAll(p.dir))
}

// Processes lists the workload and its descendants.
func (p *process) Processes(ctx context.Context) ([]runtime.Process, error) {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil, errors.New("process not started")
	}
	return runtime.ProcessTree(p.cmd.Process.Pid, runtime.RoleWorkload), nil
}

// Network implements runtime.Container: the host's own loopback.
func (p *process) Network() runtime.NetworkInfo {
	if !p.spec.Network {
		return runtime.NetworkInfo{}
	}
	return runtime.NetworkInfo{ContainerIP: "127.0.0.1", HostIP: "127.0.0.1", Stack: "host-loopback"}
}
