// Package containerd drives containerd through its Go client: the image is imported into
// the namespace isobench, and the profile picks the socket, the runtime handler
// (io.containerd.runc.v2, io.containerd.runsc.v1, io.containerd.kata.v2, aws.firecracker),
// the OCI binary the runc shim runs (runc, crun, runsc) and the snapshotter.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	runcopts "github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/containerdimage"
	"github.com/isobench/isobench/internal/runtime/gvisor"
	"github.com/isobench/isobench/internal/runtime/kata"
)

const (
	// DriverName is the driver kind of containerd profiles.
	DriverName = "containerd"
	// DefaultSocket is containerd's usual socket.
	DefaultSocket = "/run/containerd/containerd.sock"
	// Namespace holds everything isobench makes in containerd.
	Namespace = "isobench"
	// Label marks isobench's containers.
	Label = "isobench"

	handlerRunc        = "io.containerd.runc.v2"
	handlerKata        = "io.containerd.kata.v2"
	handlerFirecracker = "aws.firecracker"
)

// Options are the containerd driver's profile options.
type Options struct {
	Socket      string `yaml:"socket"`      // containerd's socket
	Handler     string `yaml:"handler"`     // runtime handler (io.containerd.runc.v2, ...)
	BinaryName  string `yaml:"binary_name"` // the runc shim's OCI runtime binary
	Snapshotter string `yaml:"snapshotter"` // default overlayfs
	// OCIRuntime is the OCI runtime behind the handler (runc, crun, runsc).
	OCIRuntime     string `yaml:"oci_runtime"`
	gvisor.Options `yaml:",inline"`
}

func init() {
	runtime.DeclareOptions(DriverName, Options{})
	prof := func(name, handler, oci, desc string, extra ...string) runtime.Profile {
		opts := map[string]string{"handler": handler}
		if oci != "" {
			opts[runtime.OptionOCIRuntime] = oci
			opts["binary_name"] = oci
		}
		for i := 0; i+1 < len(extra); i += 2 {
			opts[extra[i]] = extra[i+1]
		}
		return runtime.Profile{Name: name, Driver: DriverName, Options: opts, Description: desc}
	}
	runtime.Register(DriverName, New,
		prof("containerd-runc", handlerRunc, "runc", "containerd with the runc shim and runc"),
		prof("containerd-crun", handlerRunc, "crun", "containerd with the runc shim running crun"),
		prof("containerd-runsc", handlerRunc, "runsc", "containerd with the runc shim running gVisor's runsc (platform option; "+
			"set handler io.containerd.runsc.v1 where containerd-shim-runsc-v1 is installed)", runtime.OptionPlatform, gvisor.DefaultPlatform),
		prof("containerd-kata", handlerKata, "", "containerd with Kata Containers' shim (containerd-shim-kata-v2)"),
		runtime.Profile{Name: "firecracker-containerd", Driver: DriverName, Description: "firecracker-containerd: its own containerd, " +
			"the aws.firecracker shim and the devmapper snapshotter",
			Options: map[string]string{"handler": handlerFirecracker, "socket": FirecrackerSocket, "snapshotter": "devmapper"}},
	)
	runtime.RegisterCleaner(DriverName, runtime.ProfileCleaner(DriverName, sweepOf))
}

// Driver runs containers through one containerd and one runtime handler.
type Driver struct {
	profile     runtime.Profile
	env         runtime.Env
	opts        Options
	socket      string
	handler     string
	binaryName  string // the OCI binary the runc shim runs; empty for other shims
	snapshotter string

	client  *containerd.Client
	image   containerd.Image
	wrapper string // runsc with its flags, for the runc shim
	// runscNetMode is gVisor's network mode for networked containers.
	runscNetMode string
}

// New makes a containerd driver. Options: socket, handler, binary_name (runc shim only),
// snapshotter (default overlayfs), platform (runsc).
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	opts := defaultOptions()
	if err := p.DecodeOptions(&opts); err != nil {
		return nil, err
	}
	d := &Driver{profile: p, env: env, opts: opts, socket: opts.Socket, handler: opts.Handler, snapshotter: opts.Snapshotter}
	if d.handler == handlerRunc {
		d.binaryName = orDefault(opts.BinaryName, orDefault(opts.OCIRuntime, "runc"))
	}
	return d, nil
}

// defaultOptions: containerd's own socket, the runc shim, overlayfs, runsc on ptrace.
func defaultOptions() Options {
	return Options{Socket: DefaultSocket, Handler: handlerRunc, Snapshotter: "overlayfs",
		Options: gvisor.Options{Platform: gvisor.DefaultPlatform}}
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// CanLimit implements runtime.ResourceLimiter: the spec's cpuset and memory limit go to
// the shim's runtime, which applies them through the container's cgroup.
func (d *Driver) CanLimit(r runtime.Resources) error { return nil }

func (d *Driver) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, Namespace)
}

// shimBinary is the shim containerd runs for a handler: io.containerd.runc.v2 is
// containerd-shim-runc-v2, aws.firecracker is containerd-shim-aws-firecracker.
func shimBinary(handler string) string {
	parts := strings.Split(handler, ".")
	if len(parts) >= 2 && parts[0] == "io" && parts[1] == "containerd" {
		parts = parts[2:]
	}
	return "containerd-shim-" + strings.Join(parts, "-")
}

func (d *Driver) isRunsc() bool {
	return strings.Contains(d.binaryName, "runsc") || strings.Contains(d.handler, "runsc")
}

// connect dials containerd; it fails within 5 seconds when nothing answers.
func (d *Driver) connect(ctx context.Context) (*containerd.Client, error) {
	if d.client != nil {
		return d.client, nil
	}
	c, err := containerd.New(d.socket, containerd.WithTimeout(5*time.Second), containerd.WithDefaultNamespace(Namespace))
	if err != nil {
		return nil, err
	}
	d.client = c
	return c, nil
}

// Check implements runtime.Driver.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	st := runtime.Status{Class: runtime.ClassContainer, Options: map[string]string{
		"handler": d.handler, "socket": d.socket, "snapshotter": d.snapshotter}}
	if oci := d.opts.OCIRuntime; oci != "" {
		st.Options[runtime.OptionOCIRuntime] = oci
	}
	switch {
	case d.handler == handlerKata:
		if !kata.Check(&st) {
			return st
		}
	case d.handler == handlerFirecracker:
		st.Class = runtime.ClassVM
		st.Options["hypervisor"] = "firecracker"
		if !checkFirecracker(&st, d.socket, d.snapshotter) {
			return st
		}
	case d.isRunsc():
		st.Class = runtime.ClassSandbox
		st.Options[runtime.OptionPlatform] = d.opts.Platform
		if bin, err := exec.LookPath(d.binaryName); err == nil {
			mode, why := gvisor.NetworkMode(d.opts.Network, gvisor.Version(bin))
			st.Options[runtime.OptionNetwork] = gvisor.Stack(mode) + ": " + why
		}
	}
	shim := shimBinary(d.handler)
	if _, err := exec.LookPath(shim); err != nil {
		st.Problem = shim + " not found in PATH (containerd's shim for " + d.handler + ")"
		switch d.handler {
		case handlerRunc:
			st.Fix = "apt-get install containerd"
		case "io.containerd.runsc.v1":
			st.Fix = "install gVisor's containerd-shim-runsc-v1 next to runsc, or use handler " + handlerRunc + " with binary_name: runsc"
		default:
			st.Fix = "install " + shim + " in PATH"
		}
		return st
	}
	if d.binaryName != "" {
		bin, err := exec.LookPath(d.binaryName)
		if err != nil {
			st.Problem = d.binaryName + " not found"
			st.Fix = "apt-get install " + d.binaryName
			return st
		}
		st.Found, st.Binary = true, bin
		if !st.Hash(bin, &st.SHA256) {
			return st
		}
	} else {
		st.Found = true
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := d.connect(cctx)
	if err == nil {
		var v containerd.Version
		if v, err = c.Version(d.ctx(cctx)); err == nil {
			st.Version = "containerd " + v.Version
		}
	}
	if err != nil {
		d.closeClient()
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "permission denied") {
			st.Problem = "no permission on containerd's socket " + d.socket
			st.Fix = "run isobench as root (sudo)"
		} else {
			st.Problem = "containerd is not running at " + d.socket
			st.Fix = "start it: containerd (or scripts/start-daemons.sh) or systemctl start containerd"
			if d.handler == handlerFirecracker {
				st.Fix = "start it: firecracker-containerd --config /etc/firecracker-containerd/config.toml"
			}
		}
		return st
	}
	st.Usable = true
	return st
}

func (d *Driver) closeClient() {
	if d.client != nil {
		d.client.Close()
		d.client = nil
	}
}

// Prepare imports the image into the namespace isobench (unless there) and unpacks it
// with the profile's snapshotter.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error {
	c, err := d.connect(ctx)
	if err != nil {
		return fmt.Errorf("containerd at %s: %w", d.socket, err)
	}
	cimg, err := containerdimage.Ensure(d.ctx(ctx), c, img, d.snapshotter)
	if err != nil {
		return fmt.Errorf("containerd at %s: %w", d.socket, err)
	}
	d.image = cimg
	if d.isRunsc() && d.handler == handlerRunc {
		if err := d.writeRunscWrappers(); err != nil {
			return err
		}
	}
	return nil
}

// writeRunscWrappers writes the scripts the runc shim runs as its binary: runsc with the
// profile's platform, with --network=none for containers without network (as the oci
// driver runs it), and for networked ones gVisor's network mode on this host. The shim
// passes no flags of its own for these.
func (d *Driver) writeRunscWrappers() error {
	bin, err := exec.LookPath(d.binaryName)
	if err != nil {
		return fmt.Errorf("runtime %s: %s not found: %w", d.profile.Name, d.binaryName, err)
	}
	d.runscNetMode, _ = gvisor.NetworkMode(d.opts.Network, gvisor.Version(bin))
	dir := filepath.Join(d.env.Home, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making %s: %w", dir, err)
	}
	platform := d.opts.Platform
	d.wrapper = filepath.Join(dir, "isobench-runsc-"+platform+"-"+d.runscNetMode)
	for path, extra := range map[string]string{d.wrapper: " --network=" + d.runscNetMode, d.wrapper + "-nonet": " --network=none"} {
		script := fmt.Sprintf("#!/bin/sh\nexec %s --platform=%s%s \"$@\"\n", bin, platform, extra)
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// Close implements runtime.Driver. The imported image stays for later runs; the runtime
// state directory goes once no container is left in the namespace.
func (d *Driver) Close(ctx context.Context) error {
	defer d.closeClient()
	if d.client == nil {
		return nil
	}
	_, err := RemoveRuntimeRoot(ctx, d.client)
	return err
}

// New implements runtime.Driver: the container's spec options and its network namespace
// are made here; the container and its snapshot are made in Create.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	if d.image == nil {
		return nil, errors.New("driver not prepared: call Prepare first")
	}
	if !strings.HasPrefix(s.ID, runtime.NamePrefix) {
		return nil, fmt.Errorf("container id %q must start with %q", s.ID, runtime.NamePrefix)
	}
	c := &Container{d: d, spec: s, done: make(chan struct{})}
	specOpts := []oci.SpecOpts{oci.WithImageConfig(d.image), oci.WithProcessArgs(s.Args...), withOCIVersion}
	if s.Resources.CPUs != "" {
		specOpts = append(specOpts, oci.WithCPUs(s.Resources.CPUs))
	}
	if s.Resources.MemoryBytes > 0 {
		specOpts = append(specOpts, oci.WithMemoryLimit(uint64(s.Resources.MemoryBytes)))
	}
	if len(s.Env) > 0 {
		specOpts = append(specOpts, oci.WithEnv(s.Env))
	}
	if s.Cwd != "" {
		specOpts = append(specOpts, oci.WithProcessCwd(s.Cwd))
	}
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		switch m.Type {
		case "bind":
			opts := []string{"rbind"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Destination, Options: opts})
		case "tmpfs":
			opts := []string{"nosuid", "nodev"}
			if m.SizeBytes > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.SizeBytes))
			}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Destination, Options: opts})
		default:
			return nil, fmt.Errorf("mount %s: unknown type %q", m.Destination, m.Type)
		}
	}
	if len(mounts) > 0 {
		specOpts = append(specOpts, oci.WithMounts(mounts))
	}
	if s.Network {
		link, err := netsetup.Create(s.ID, d.env.Subnet)
		if err != nil {
			return nil, fmt.Errorf("making network for %s: %w", s.ID, err)
		}
		c.link = link
		specOpts = append(specOpts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: link.NetnsPath}))
	}
	var rtOpts any
	if d.binaryName != "" {
		bin := d.binaryName
		if d.wrapper != "" {
			bin = d.wrapper
			if !s.Network {
				bin += "-nonet"
			}
		}
		rtOpts = &runcopts.Options{BinaryName: bin}
	}
	c.opts = []containerd.NewContainerOpts{
		containerd.WithContainerLabels(map[string]string{Label: "1"}),
		containerd.WithImage(d.image),
		containerd.WithSnapshotter(d.snapshotter),
		containerd.WithNewSnapshot(s.ID, d.image),
		containerd.WithRuntime(d.handler, rtOpts),
		containerd.WithNewSpec(specOpts...),
	}
	return c, nil
}

// withOCIVersion declares the spec version dockerd also writes: crun 1.8 refuses the
// client library's newer one ("unknown version specified").
func withOCIVersion(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	s.Version = "1.0.2-dev"
	return nil
}

// Container is one containerd container and its task.
type Container struct {
	d    *Driver
	spec runtime.Spec
	opts []containerd.NewContainerOpts
	link *netsetup.Link

	ctr      containerd.Container
	task     containerd.Task
	statusC  <-chan containerd.ExitStatus
	done     chan struct{}
	exited   bool
	deleted  bool
	netStack string
}

// ID implements runtime.Container.
func (c *Container) ID() string { return c.spec.ID }

func (c *Container) errorf(format string, args ...any) error {
	return fmt.Errorf("containerd at %s: %s: %w", c.d.socket, c.spec.ID, fmt.Errorf(format, args...))
}

// Create makes the container with its snapshot, then the task (shim start and the
// runtime's create), and registers for its exit.
func (c *Container) Create(ctx context.Context) error {
	ctx = c.d.ctx(ctx)
	ctr, err := c.d.client.NewContainer(ctx, c.spec.ID, c.opts...)
	if err != nil {
		return c.errorf("new container: %w", err)
	}
	c.ctr = ctr
	creator := cio.NewCreator(cio.WithStreams(nil, orDiscard(c.spec.Stdout), orDiscard(c.spec.Stderr)))
	task, err := ctr.NewTask(ctx, creator)
	if err != nil {
		return c.errorf("new task: %w", err)
	}
	c.task = task
	// The exit subscription lives until Delete, not just this call's context.
	statusC, err := task.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return c.errorf("wait: %w", err)
	}
	c.statusC = statusC
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Start implements runtime.Container.
func (c *Container) Start(ctx context.Context) error {
	if c.task == nil {
		return errors.New("container was not created")
	}
	if err := c.task.Start(c.d.ctx(ctx)); err != nil {
		return c.errorf("start: %w", err)
	}
	return nil
}

// Wait returns the exit code once the task exited and its output is drained.
func (c *Container) Wait(ctx context.Context) (int, error) {
	if c.statusC == nil {
		return -1, errors.New("container was not created")
	}
	var st containerd.ExitStatus
	select {
	case st = <-c.statusC:
	case <-ctx.Done():
		return -1, c.errorf("wait: %w", ctx.Err())
	}
	code, _, err := st.Result()
	if err != nil {
		return -1, c.errorf("wait: %w", err)
	}
	c.exited = true
	// The copiers end when the shim closes the FIFOs; a child holding them must not hang us.
	drained := make(chan struct{})
	go func() {
		if io := c.task.IO(); io != nil {
			io.Wait()
		}
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
	}
	return int(code), nil
}

// Delete kills and deletes the task, deletes the container with its snapshot and removes
// the network. A dead containerd makes it fail within 30 seconds rather than hang.
func (c *Container) Delete(ctx context.Context) error {
	if c.deleted {
		return nil
	}
	c.deleted = true
	dctx, cancel := context.WithTimeout(c.d.ctx(context.WithoutCancel(ctx)), 30*time.Second)
	defer cancel()
	var errs []error
	if c.task != nil {
		// Killing an exited task fails with runsc ("sandbox is not running").
		var opts []containerd.ProcessDeleteOpts
		if !c.exited {
			opts = append(opts, containerd.WithProcessKill)
		}
		_, err := c.task.Delete(dctx, opts...)
		if err != nil && len(opts) > 0 && !errdefs.IsNotFound(err) && c.stopsWithin(dctx, 5*time.Second) {
			// The kill met the workload's own exit (runsc: "not running", or its sandbox's
			// control server already gone); the stopped task is deleted without one.
			_, err = c.task.Delete(dctx)
		}
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, c.errorf("delete task: %w", err))
		}
	}
	if c.ctr != nil {
		if err := c.ctr.Delete(dctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, c.errorf("delete container: %w", err))
		}
	}
	if c.link != nil {
		if err := c.link.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopsWithin tells whether the task is stopped, or stops within limit.
func (c *Container) stopsWithin(ctx context.Context, limit time.Duration) bool {
	for end := time.Now().Add(limit); ; {
		st, err := c.task.Status(ctx)
		if err == nil && st.Status == containerd.Stopped {
			return true
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Processes lists the shim and everything under it (workload, or gVisor's sandbox and gofer).
func (c *Container) Processes(ctx context.Context) ([]runtime.Process, error) {
	if c.task == nil {
		return nil, errors.New("container not created")
	}
	pid := int(c.task.Pid())
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		return nil, c.errorf("task process %d is gone", pid)
	}
	return runtime.ShimTree(pid), nil
}

// Network implements runtime.Container.
func (c *Container) Network() runtime.NetworkInfo {
	if c.link == nil {
		return runtime.NetworkInfo{}
	}
	stack := "linux-veth"
	if c.d.isRunsc() {
		stack = gvisor.Stack(c.d.runscNetMode)
	}
	return runtime.NetworkInfo{ContainerIP: c.link.PeerIP.String(), HostIP: c.link.HostIP.String(), Stack: stack}
}
