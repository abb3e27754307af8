// Package podman runs containers through podman's Docker-compatible API service, with the
// docker driver as client. Each profile gets its own `podman system service`, started in
// Prepare and stopped in Close, whose containers.conf makes the profile's OCI runtime the
// default: podman 4.3's compat API ignores HostConfig.Runtime.
package podman

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/dockerapi"
	"github.com/isobench/isobench/internal/runtime/gvisor"
)

// DriverName is the driver kind of podman profiles.
const DriverName = "podman"

// Stack names the network stack of containers on podman's bridge (netavark or CNI).
const Stack = "podman-bridge"

// Options are the podman driver's profile options.
type Options struct {
	// Runtime is a runtime name podman knows, or a path (default: OCIRuntime, else runc).
	Runtime string `yaml:"runtime"`
	// OCIRuntime is runc, crun or runsc (default: Runtime's base name).
	OCIRuntime string `yaml:"oci_runtime"`
	// Host is a running podman service to use instead of starting one.
	Host string `yaml:"host"`
	// WaitInterval is how often libpod looks for a container's exit (default 5ms).
	WaitInterval   string `yaml:"wait_interval"`
	gvisor.Options `yaml:",inline"`
}

func init() {
	runtime.DeclareOptions(DriverName, Options{})
	prof := func(rt, desc string) runtime.Profile {
		return runtime.Profile{Name: "podman-" + rt, Driver: DriverName,
			Options: map[string]string{runtime.OptionRuntime: rt, runtime.OptionOCIRuntime: rt}, Description: desc}
	}
	runtime.Register(DriverName, New,
		prof("runc", "podman (compat API service, conmon) with runc"),
		prof("crun", "podman (compat API service, conmon) with crun"),
		prof("runsc", "podman (compat API service, conmon) with gVisor's runsc, --platform=ptrace"),
	)
	runtime.RegisterCleaner(DriverName, cleanup)
}

// Driver runs containers of one profile through a podman service.
type Driver struct {
	profile runtime.Profile
	env     runtime.Env
	opts    Options
	// runtimeName is the runtime's name in podman's [engine.runtimes]; runtimeOption is
	// the profile's `runtime` option, a name or a path; ociRuntime is runc, crun or runsc.
	runtimeName   string
	runtimeOption string
	ociRuntime    string
	// external is the profile's `host` option: a podman service isobench does not run.
	external string
	svcDir   string
	engine   *dockerapi.Driver

	// waitInterval is how often libpod looks for the container's exit while Wait waits.
	waitInterval time.Duration

	mu       sync.Mutex
	svc      *service
	cli      *client.Client
	libpod   *http.Client
	imageRef string
	runscNet string
}

// New makes a podman driver. Options: runtime (a name podman knows, or a path; default
// runc), oci_runtime (runc, crun or runsc; default the runtime's base name), platform and
// network (runsc), host (a running podman service to use instead of starting one).
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	opts := Options{WaitInterval: "5ms", Options: gvisor.Options{Platform: gvisor.DefaultPlatform}}
	if err := p.DecodeOptions(&opts); err != nil {
		return nil, err
	}
	opt := orDefault(opts.Runtime, orDefault(opts.OCIRuntime, "runc"))
	d := &Driver{profile: p, env: env, opts: opts, runtimeOption: opt, external: opts.Host}
	d.ociRuntime = orDefault(opts.OCIRuntime, filepath.Base(opt))
	d.runtimeName = opt
	if strings.Contains(opt, "/") {
		d.runtimeName = d.ociRuntime
	}
	interval, err := time.ParseDuration(opts.WaitInterval)
	if err != nil || interval <= 0 {
		return nil, fmt.Errorf("profile %s: wait_interval %q: want a duration like 5ms", p.Name, opts.WaitInterval)
	}
	d.waitInterval = interval
	d.svcDir = filepath.Join(env.Home, "run", runtime.NamePrefix+"podman-"+p.Name)
	host := d.external
	if host == "" {
		host = serviceConfig{Dir: d.svcDir}.host()
	}
	// The docker driver names the runtime it asks for after podman's name for it.
	engineProfile := p
	engineProfile.Options = map[string]string{runtime.OptionRuntime: d.runtimeName, runtime.OptionOCIRuntime: d.ociRuntime}
	// No per-container Ulimits: the service's containers.conf sets ones that fit its limits.
	e := dockerapi.Engine{
		Daemon:     "podman service",
		StartFix:   "isobench starts it in Prepare; for a profile with a host option: podman system service --time=0 " + host,
		Stack:      Stack,
		RuntimeFix: "add it to [engine.runtimes] in the service's containers.conf, e.g. %[1]s = [\"/usr/bin/%[1]s\"]",
	}
	engine, err := dockerapi.New(engineProfile, env, e, host)
	if err != nil {
		return nil, err
	}
	d.engine = engine
	return d, nil
}

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// CanLimit implements runtime.ResourceLimiter: podman applies cpusets and memory limits
// through the container's cgroup.
func (d *Driver) CanLimit(r runtime.Resources) error { return nil }

// runtimePath finds the OCI runtime's binary.
func (d *Driver) runtimePath() (string, error) {
	return exec.LookPath(d.runtimeOption)
}

// runscNetwork is the network mode runsc runs in under this profile.
func (d *Driver) runscNetwork() string {
	if d.opts.Network == gvisor.NetNone {
		return gvisor.NetNone
	}
	bin, err := d.runtimePath()
	if err != nil {
		return gvisor.NetSandbox
	}
	mode, _ := gvisor.NetworkMode(d.opts.Network, gvisor.Version(bin))
	return mode
}

// runtimeFlags are the flags the service gives every runtime call: the profile's global
// args, and for runsc its platform and network mode.
func (d *Driver) runtimeFlags() []string {
	var flags []string
	for _, a := range d.profile.GlobalArgs {
		flags = append(flags, strings.TrimLeft(a, "-"))
	}
	if d.ociRuntime == "runsc" {
		flags = append(flags, "platform="+d.opts.Platform)
		switch mode := d.runscNetwork(); mode {
		case gvisor.NetHost, gvisor.NetNone:
			flags = append(flags, "network="+mode)
		}
	}
	return flags
}

// Check implements runtime.Driver: podman and the runtime are installed, and a service
// the profile points to (or one already running on its socket) answers and runs the runtime.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	st := runtime.Status{Class: runtime.ClassContainer, Options: map[string]string{
		runtime.OptionRuntime: d.runtimeOption, runtime.OptionOCIRuntime: d.ociRuntime, runtime.OptionHost: d.engine.Host()}}
	if d.ociRuntime == "runsc" {
		st.Class = runtime.ClassSandbox
		st.Options[runtime.OptionPlatform] = d.opts.Platform
		if mode := d.runscNetwork(); mode == gvisor.NetNone {
			st.Options[runtime.OptionNetwork] = gvisor.NetNone
		} else {
			st.Options[runtime.OptionNetwork] = gvisor.Stack(mode)
		}
	}
	bin, err := exec.LookPath("podman")
	if err != nil {
		st.Problem = "podman is not installed"
		st.Fix = "apt-get install podman"
		return st
	}
	st.Binary = bin
	if !st.Hash(bin, &st.SHA256) {
		return st
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	out, err := exec.CommandContext(vctx, bin, "--version").Output()
	cancel()
	if err != nil {
		st.Problem = fmt.Sprintf("%s --version failed: %v", bin, err)
		st.Fix = "reinstall podman: apt-get install --reinstall podman"
		return st
	}
	st.Version = strings.TrimSpace(strings.Replace(string(out), " version ", " ", 1))
	if _, err := exec.LookPath("conmon"); err != nil {
		st.Problem = "conmon, podman's container monitor, is not installed"
		st.Fix = "apt-get install conmon"
		return st
	}
	for _, helper := range []string{"netavark", "aardvark-dns"} {
		if findHelper(helper) == "" && d.external == "" {
			st.Problem = fmt.Sprintf("podman's network backend netavark needs %s, which is not installed (podman's CNI fallback gives the host no address on an internal network)", helper)
			st.Fix = "apt-get install netavark aardvark-dns"
			return st
		}
	}
	rt, err := d.runtimePath()
	if err != nil {
		st.Problem = fmt.Sprintf("podman's OCI runtime %s is not installed", d.runtimeOption)
		if strings.Contains(d.runtimeOption, "/") {
			st.Fix = "install the runtime at " + d.runtimeOption + ", or fix the runtime option of the profile"
		} else if d.ociRuntime == "runsc" {
			st.Fix = "install gVisor's runsc into /usr/bin (https://gvisor.dev/docs/user_guide/install/)"
		} else {
			st.Fix = "apt-get install " + d.runtimeOption
		}
		return st
	}
	st.Options["runtime_binary"] = rt
	var rtSum string
	if !st.Hash(rt, &rtSum) {
		return st
	}
	st.Options["runtime_sha256"] = rtSum
	st.Found = true
	// A running service must run this profile's runtime; one isobench starts will.
	if d.external != "" || answers(ctx, serviceConfig{Dir: d.svcDir}.socket()) {
		es := d.engine.Check(ctx)
		if !es.Usable {
			st.Problem, st.Fix = es.Problem, es.Fix
			return st
		}
		if problem := d.defaultRuntimeProblem(ctx); problem != "" {
			st.Problem = problem
			st.Fix = fmt.Sprintf("start that service with runtime = %q under [engine] in its containers.conf (podman's compat API ignores HostConfig.Runtime)", d.runtimeName)
			return st
		}
	}
	st.Usable = true
	return st
}

// defaultRuntimeProblem says what is wrong when the service's default runtime is not the
// profile's: the compat API runs every container with the default one.
func (d *Driver) defaultRuntimeProblem(ctx context.Context) string {
	cli, err := client.NewClientWithOpts(client.WithHost(d.engine.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		return err.Error()
	}
	defer cli.Close()
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := cli.Info(ictx)
	if err != nil {
		return fmt.Sprintf("podman service at %s: info: %v", d.engine.Host(), err)
	}
	if info.DefaultRuntime != d.runtimeName {
		return fmt.Sprintf("podman service at %s runs every container with %s, not %s", d.engine.Host(), info.DefaultRuntime, d.runtimeName)
	}
	return ""
}

// Prepare starts the podman service (unless the profile names one, or one already runs
// on the socket) and loads the image into podman's storage.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.external == "" && d.svc == nil {
		podman, err := exec.LookPath("podman")
		if err != nil {
			return errors.New("podman is not installed (apt-get install podman)")
		}
		rt, err := d.runtimePath()
		if err != nil {
			return fmt.Errorf("podman's OCI runtime %s: %w", d.runtimeOption, err)
		}
		svc, err := startService(ctx, serviceConfig{Dir: d.svcDir, Podman: podman,
			RuntimeName: d.runtimeName, RuntimePath: rt, RuntimeFlags: d.runtimeFlags()})
		if err != nil {
			return fmt.Errorf("profile %s: %w", d.profile.Name, err)
		}
		d.svc = svc
	}
	if problem := d.defaultRuntimeProblem(ctx); problem != "" {
		return errors.New(problem)
	}
	if d.ociRuntime == "runsc" {
		d.runscNet = d.runscNetwork()
	}
	if err := d.engine.Prepare(ctx, img); err != nil {
		return err
	}
	sock, ok := strings.CutPrefix(d.engine.Host(), "unix://")
	if !ok {
		return fmt.Errorf("podman service at %s: only unix sockets are supported", d.engine.Host())
	}
	if d.cli == nil {
		cli, err := client.NewClientWithOpts(client.WithHost(d.engine.Host()), client.WithAPIVersionNegotiation())
		if err != nil {
			return fmt.Errorf("podman service at %s: %w", d.engine.Host(), err)
		}
		d.cli, d.libpod = cli, unixHTTPClient(sock)
	}
	d.imageRef = dockerapi.ImageRef(img)
	return nil
}

// Close removes the driver's network and stops the service if the driver started it.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.engine.Close(ctx)
	if d.cli != nil {
		d.cli.Close()
		d.libpod.CloseIdleConnections()
		d.cli, d.libpod, d.imageRef = nil, nil, ""
	}
	d.svc.stop()
	d.svc = nil
	if d.ociRuntime == "runsc" {
		// conmon runs runsc with its default state directory.
		if bin, perr := d.runtimePath(); perr == nil {
			err = errors.Join(err, gvisor.UnpinNullNetns(ctx, bin, gvisor.DefaultRoot))
		}
	}
	return err
}

// New implements runtime.Driver: it only checks the spec and, for networked containers,
// has the docker driver make the profile's network; everything in podman happens in Create.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	d.mu.Lock()
	cli, imageRef, runscNet := d.cli, d.imageRef, d.runscNet
	d.mu.Unlock()
	if cli == nil || imageRef == "" {
		return nil, errors.New("driver not prepared: call Prepare first")
	}
	if !strings.HasPrefix(s.ID, runtime.NamePrefix) {
		return nil, fmt.Errorf("container id %q must start with %q", s.ID, runtime.NamePrefix)
	}
	c := &Container{d: d, cli: cli, spec: s, netMode: "none", stack: Stack, attached: make(chan struct{})}
	if d.ociRuntime == "runsc" {
		c.stack = gvisor.Stack(runscNet)
	}
	if s.Network {
		if runscNet == gvisor.NetNone {
			return nil, fmt.Errorf("profile %s runs runsc with --network=none: it cannot run networked containers", d.profile.Name)
		}
		// The docker driver makes (once) and removes in Close the network isobench-net-<profile>.
		if _, err := d.engine.New(ctx, runtime.Spec{ID: s.ID, Network: true}); err != nil {
			return nil, err
		}
		c.netMode = runtime.NamePrefix + "net-" + d.profile.Name
	}
	return c, nil
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
