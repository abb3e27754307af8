// Package oci drives OCI runtimes (runc, crun, runsc) through their command lines, with a
// bundle generated per container. Containers share the image's root filesystem read-only,
// each with its own overlay upper layer.
package oci

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/mounts"
	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/gvisor"
	"github.com/isobench/isobench/internal/runtime/overlay"
	"github.com/isobench/isobench/internal/strictyaml"
)

// DriverName is the driver kind of OCI runtime profiles.
const DriverName = "oci"

// Options are the oci driver's profile options.
type Options struct {
	// Flavor is runc, crun or runsc (default: the binary's name).
	Flavor         string `yaml:"flavor"`
	gvisor.Options `yaml:",inline"`
}

// Validate refuses an unknown flavor and runsc options runsc does not have.
func (o Options) Validate() error {
	if err := strictyaml.OneOf("flavor", o.Flavor, string(flavorRunc), string(flavorCrun), string(flavorRunsc)); err != nil {
		return err
	}
	return o.Options.Validate()
}

func init() {
	runtime.DeclareOptions(DriverName, Options{})
	runtime.Register(DriverName, New,
		runtime.Profile{Name: "runc", Driver: DriverName, Binary: "runc", Description: "runc, the reference OCI runtime"},
		runtime.Profile{Name: "crun", Driver: DriverName, Binary: "crun", Description: "crun, the OCI runtime in C"},
		runtime.Profile{Name: "runsc", Driver: DriverName, Binary: "runsc", Options: map[string]string{runtime.OptionPlatform: gvisor.DefaultPlatform},
			Description: "gVisor's runsc (user-space kernel); platform set by the platform option"},
	)
	runtime.RegisterCleaner(DriverName, runtime.ProfileCleaner(DriverName, sweepOf))
}

// flavor selects the few behaviours where runtimes differ.
type flavor string

const (
	flavorRunc  flavor = "runc"
	flavorCrun  flavor = "crun"
	flavorRunsc flavor = "runsc"
)

// Driver runs containers through one OCI runtime's command line.
type Driver struct {
	profile runtime.Profile
	env     runtime.Env
	opts    Options
	flavor  flavor
	binary  string
	rootfs  string

	netOnce sync.Once // runsc's network mode, found once
	netMode string
	netWhy  string
}

// New makes an OCI driver for a profile. The flavor option (runc, crun, runsc) defaults to
// the binary's base name, so a profile for a build at /opt/runc-dev/runc is a runc.
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	if p.Binary == "" {
		return nil, fmt.Errorf("profile %q: driver oci needs `binary:` (runc, crun, runsc or a path)", p.Name)
	}
	opts := Options{Options: gvisor.Options{Platform: gvisor.DefaultPlatform}}
	if err := p.DecodeOptions(&opts); err != nil {
		return nil, err
	}
	f := flavor(opts.Flavor)
	if f == "" {
		base := filepath.Base(p.Binary)
		switch {
		case strings.HasPrefix(base, "runsc"):
			f = flavorRunsc
		case strings.HasPrefix(base, "crun"):
			f = flavorCrun
		default:
			f = flavorRunc
		}
	}
	return &Driver{profile: p, env: env, flavor: f, opts: opts}, nil
}

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

var debianPackage = map[flavor]string{flavorRunc: "runc", flavorCrun: "crun", flavorRunsc: "runsc"}

// Check implements runtime.Driver.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	st := runtime.Status{Class: runtime.ClassContainer, Options: map[string]string{}}
	if d.flavor == flavorRunsc {
		st.Class = runtime.ClassSandbox
		st.Options[runtime.OptionPlatform] = d.platform()
		mode, why := d.runscNet()
		st.Options[runtime.OptionNetwork] = gvisor.Stack(mode) + ": " + why
	}
	bin, err := exec.LookPath(d.profile.Binary)
	if err != nil {
		st.Problem = fmt.Sprintf("%s not found", d.profile.Binary)
		if filepath.Base(d.profile.Binary) == d.profile.Binary {
			st.Fix = "apt-get install " + debianPackage[d.flavor]
		} else {
			st.Fix = "build or install the runtime at " + d.profile.Binary + ", or fix `binary:` in the config"
		}
		return st
	}
	st.Found, st.Binary = true, bin
	if !st.Hash(bin, &st.SHA256) {
		return st
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(vctx, bin, "--version").CombinedOutput()
	if err != nil {
		st.Problem = fmt.Sprintf("%s --version failed: %v", bin, err)
		st.Fix = "reinstall it: apt-get install --reinstall " + debianPackage[d.flavor]
		return st
	}
	st.Version = firstLine(string(out))
	if d.flavor == flavorCrun {
		if mode := hostinfo.CgroupMode(); mode == "hybrid" && hostinfo.UnifiedControllers() != "" {
			st.Problem = "cgroups in hybrid mode: crun refuses while controllers (" + hostinfo.UnifiedControllers() + ") sit on cgroup v2"
			st.Fix = "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb"
			return st
		}
	}
	if d.flavor == flavorRunsc && d.platform() == "kvm" && !hostinfo.KVMUsable(ctx) {
		st.Problem = "gVisor's kvm platform needs a KVM that runs ordinary guests; here it would hang"
		st.Fix = "use the ptrace platform: options: {platform: ptrace}"
		return st
	}
	st.Usable = true
	return st
}

func (d *Driver) platform() string { return d.opts.Platform }

// Prepare implements runtime.Driver.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error {
	bin, err := exec.LookPath(d.profile.Binary)
	if err != nil {
		return fmt.Errorf("runtime %s: %s not found: %w", d.profile.Name, d.profile.Binary, err)
	}
	d.binary = bin
	root, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("unpacking image %s: %w", img.Name, err)
	}
	d.rootfs = root
	// Containers re-parent to isobench when `create` exits, so it can wait for them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("becoming child subreaper: %w", err)
	}
	return nil
}

// Close implements runtime.Driver.
func (d *Driver) Close(ctx context.Context) error {
	if d.flavor != flavorRunsc {
		return nil
	}
	reapRunscHelpers()
	return d.unpinNullNetns(ctx)
}

// globalArgs go before every subcommand.
func (d *Driver) globalArgs(network bool) []string {
	args := append([]string(nil), d.profile.GlobalArgs...)
	if d.flavor == flavorRunsc {
		if !hasFlag(args, "--platform") {
			args = append(args, "--platform="+d.platform())
		}
		if !hasFlag(args, "--network") {
			if !network {
				args = append(args, "--network=none")
			} else if mode, _ := d.runscNet(); mode == gvisor.NetHost {
				args = append(args, "--network=host")
			}
		}
	}
	return args
}

// New implements runtime.Driver: the bundle, the overlay and the network are made here,
// outside the timed create.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (_ runtime.Container, err error) {
	if d.rootfs == "" {
		return nil, errors.New("driver not prepared: call Prepare first")
	}
	if !strings.HasPrefix(s.ID, runtime.NamePrefix) {
		return nil, fmt.Errorf("container id %q must start with %q", s.ID, runtime.NamePrefix)
	}
	c := &container{d: d, spec: s, dir: d.env.StateDir(s.ID), network: s.Network, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			err = errors.Join(err, c.cleanup())
		}
	}()
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("making state directory: %w", err)
	}
	rootfs, err := overlay.Mount(d.rootfs, c.dir)
	if err != nil {
		return nil, err
	}
	netnsPath := ""
	if s.Network {
		link, err := netsetup.Create(s.ID, d.env.Subnet)
		if err != nil {
			return nil, fmt.Errorf("making network for %s: %w", s.ID, err)
		}
		c.link = link
		netnsPath = link.NetnsPath
	}
	spec, err := buildSpec(s, rootfs, netnsPath)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "config.json"), data, 0o600); err != nil {
		return nil, fmt.Errorf("writing config.json: %w", err)
	}
	if c.log, err = os.OpenFile(filepath.Join(c.dir, "runtime.log"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600); err != nil {
		return nil, fmt.Errorf("making the runtime's log: %w", err)
	}
	ok = true
	return c, nil
}

type container struct {
	d       *Driver
	spec    runtime.Spec
	dir     string
	network bool
	link    *netsetup.Link

	log     *os.File // the runtime's own output for start and delete
	pid     int
	procs   []runtime.Process // runsc: sandbox and gofer
	created bool
	// createTried: Create ran, perhaps without finishing; gone: the runtime's delete
	// succeeded or found nothing, so any state left under its root is stale.
	createTried, gone bool
	stderr            bytes.Buffer // the runtime's own stderr
	copiers           sync.WaitGroup
	done              chan struct{}
	exitCode          int
	waitErr           error
	deleted           bool
}

func (c *container) ID() string { return c.spec.ID }

// createGrace is how long a cancelled create may still run before it is killed.
const createGrace = 5 * time.Second

// Create runs `<runtime> create`; the workload's stdio are pipes that outlive the runtime
// process and are copied to the spec's writers.
func (c *container) Create(ctx context.Context) error {
	c.createTried = true
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("making stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fmt.Errorf("making stderr pipe: %w", err)
	}
	pidFile := filepath.Join(c.dir, "pid")
	args := append(c.d.globalArgs(c.network), "create", "--bundle", c.dir, "--pid-file", pidFile)
	args = append(args, c.d.profile.ContainerArgs...)
	args = append(args, c.spec.ID)
	cmd := exec.CommandContext(ctx, c.d.binary, args...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = outW, errW
	// A create killed half-way can leave what no delete reaches (a runsc sandbox and
	// gofer whose state was not written yet). On Ctrl-C or a trial timeout the create
	// gets a moment to finish, so that Delete removes it; a hung one is killed after that.
	cmd.Cancel = func() error {
		p := cmd.Process
		time.AfterFunc(createGrace, func() { _ = p.Kill() })
		return nil
	}
	// The runtime's own messages also go to errW: the container inherits it as stderr.
	runErr := cmd.Run()
	outW.Close()
	errW.Close()
	c.copy(outR, c.spec.Stdout, nil)
	c.copy(errR, c.spec.Stderr, &c.stderr)
	// A create that finished after a cancel made the container all the same: it is taken
	// in like any other, so that Delete can remove it, and the cancel is reported last.
	finished := runErr == nil || (cmd.ProcessState != nil && cmd.ProcessState.Success())
	if !finished {
		c.copiers.Wait()
		return fmt.Errorf("%s create: %v: %s", c.d.profile.Name, runErr, strings.TrimSpace(c.stderr.String()))
	}
	c.created = true
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("reading pid file: %w", err)
	}
	c.pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("pid file %s holds %q: %w", pidFile, b, err)
	}
	if c.d.flavor == flavorRunsc {
		// runsc's pid file holds the pid inside the sandbox. On the host, the sandbox and
		// gofer processes became isobench's children; the sandbox exits with the workload's
		// status, and both must be reaped or runsc delete waits for them forever.
		if err := c.adoptRunscProcesses(); err != nil {
			return err
		}
	}
	go c.reap()
	if runErr != nil {
		return fmt.Errorf("%s create: %w", c.d.profile.Name, runErr)
	}
	return nil
}

// adoptRunscProcesses finds the sandbox and gofer among isobench's adopted children by
// their bundle path, waits for the sandbox as the container, and reaps the others.
func (c *container) adoptRunscProcesses() error {
	c.pid = 0
	for _, pid := range procs.Descendants(os.Getpid()) {
		args := procs.Cmdline(pid)
		if !containsArg(args, "--bundle="+c.dir) && !containsPair(args, "--bundle", c.dir) {
			continue
		}
		role := runtime.RoleGofer
		if containsArg(args, "boot") {
			role, c.pid = runtime.RoleSandbox, pid
		}
		c.procs = append(c.procs, runtime.Process{PID: pid, Role: role})
		if role != runtime.RoleSandbox {
			go reapQuietly(pid)
		}
	}
	if c.pid == 0 {
		return fmt.Errorf("runsc create returned, but no sandbox process for bundle %s is running", c.dir)
	}
	return nil
}

func reapQuietly(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

func containsPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}

func (c *container) copy(r *os.File, w io.Writer, keep *bytes.Buffer) {
	var dst []io.Writer
	if w != nil {
		dst = append(dst, w)
	}
	if keep != nil {
		dst = append(dst, keep)
	}
	c.copiers.Add(1)
	go func() {
		defer c.copiers.Done()
		defer r.Close()
		_, _ = io.Copy(io.MultiWriter(append(dst, io.Discard)...), r)
	}()
}

// reap waits for the container's first process, which isobench inherits as subreaper.
func (c *container) reap() {
	defer close(c.done)
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(c.pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.waitErr = fmt.Errorf("waiting for pid %d: %w", c.pid, err)
			return
		}
		break
	}
	switch {
	case ws.Exited():
		c.exitCode = ws.ExitStatus()
	case ws.Signaled():
		c.exitCode = 128 + int(ws.Signal())
	}
}

// Start runs `<runtime> start`.
func (c *container) Start(ctx context.Context) error {
	out, err := c.runtimeCmd(ctx, "start", c.spec.ID)
	if err != nil {
		return fmt.Errorf("%s start: %v: %s", c.d.profile.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runtimeCmd runs one runtime subcommand and returns what it wrote to stderr. Its output
// goes to a file rather than a pipe: a pipe would need a goroutine to drain it, and that
// work would land inside the timed step.
func (c *container) runtimeCmd(ctx context.Context, args ...string) (string, error) {
	start, err := c.log.Seek(0, io.SeekEnd)
	if err != nil {
		return "", fmt.Errorf("runtime log: %w", err)
	}
	cmd := exec.CommandContext(ctx, c.d.binary, append(c.d.globalArgs(c.network), args...)...)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	runErr := cmd.Run()
	if runErr == nil {
		return "", nil
	}
	out := make([]byte, 8192)
	n, _ := c.log.ReadAt(out, start)
	return string(out[:n]), runErr
}

// Wait blocks until the container's first process exited and its output is drained.
func (c *container) Wait(ctx context.Context) (int, error) {
	if !c.created {
		return -1, errors.New("container was not created")
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return -1, fmt.Errorf("waiting for %s: %w", c.spec.ID, ctx.Err())
	}
	if c.waitErr != nil {
		return -1, c.waitErr
	}
	// Output may still sit in the pipes; a child that kept them open must not hang us.
	drained := make(chan struct{})
	go func() { c.copiers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
	}
	return c.exitCode, nil
}

// Delete force-deletes the container in the runtime; Release removes the rest.
func (c *container) Delete(ctx context.Context) error {
	if c.deleted {
		return nil
	}
	c.deleted = true
	if !c.createTried {
		return nil
	}
	var errs []error
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Also after a failed or interrupted create: the runtime may have got far enough to
	// keep state for the container.
	out, err := c.runtimeCmd(dctx, "delete", "--force", c.spec.ID)
	if err != nil && !strings.Contains(string(out), "not exist") {
		errs = append(errs, fmt.Errorf("%s delete: %v: %s", c.d.profile.Name, err, strings.TrimSpace(string(out))))
	} else {
		c.gone = true
	}
	if c.created {
		// The process is gone now; make sure it is reaped.
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Errorf("container %s: process %d still running after delete", c.spec.ID, c.pid))
		}
	}
	return errors.Join(errs...)
}

// Release deletes the container if needed and removes its bundle, overlay and network.
func (c *container) Release(ctx context.Context) error {
	err := errors.Join(c.Delete(ctx), c.cleanup())
	if c.gone {
		// A create killed half-way (Ctrl-C) leaves state the runtime no longer lists.
		_, serr := c.d.removeStaleState(c.d.globalArgs(c.network), func(id string) bool { return id == c.spec.ID })
		err = errors.Join(err, serr)
	}
	if c.d.flavor == flavorRunsc {
		reapRunscHelpers()
	}
	return err
}

func (c *container) cleanup() error {
	var errs []error
	if c.log != nil {
		c.log.Close()
	}
	if c.link != nil {
		if err := c.link.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := mounts.UnmountAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CanLimit implements runtime.ResourceLimiter: runc, crun and runsc apply the spec's
// cpuset and memory limit through the container's cgroup (runsc to its sandbox).
func (d *Driver) CanLimit(r runtime.Resources) error { return nil }

// Processes lists the workload's processes and, for runsc, the sandbox and gofer.
func (c *container) Processes(ctx context.Context) ([]runtime.Process, error) {
	if c.pid == 0 {
		return nil, errors.New("container not created")
	}
	if c.d.flavor == flavorRunsc {
		return append([]runtime.Process(nil), c.procs...), nil
	}
	return runtime.ProcessTree(c.pid, runtime.RoleWorkload), nil
}

// Network implements runtime.Container.
func (c *container) Network() runtime.NetworkInfo {
	if c.link == nil {
		return runtime.NetworkInfo{}
	}
	stack := "linux-veth"
	if c.d.flavor == flavorRunsc {
		mode, _ := c.d.runscNet()
		stack = gvisor.Stack(mode)
	}
	return runtime.NetworkInfo{ContainerIP: c.link.PeerIP.String(), HostIP: c.link.HostIP.String(), Stack: stack}
}

func containsArg(args []string, id string) bool {
	for _, a := range args {
		if a == id {
			return true
		}
	}
	return false
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return strings.TrimSpace(sc.Text())
	}
	return ""
}
