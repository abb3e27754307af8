// Package dockerapi runs containers through an endpoint that speaks Docker's Engine API
// (dockerd, podman's compatible service) with the Docker Go client: the engine-neutral
// part of the docker and podman drivers.
package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/vishvananda/netlink"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/gvisor"
	"github.com/isobench/isobench/internal/runtime/kata"
)

// Label marks every object isobench makes in an engine.
const Label = "isobench"

// ImageRepo starts the repository of every image isobench loads into an engine.
const ImageRepo = "isobench/"

// Engine holds what differs between API endpoints that speak Docker's API.
type Engine struct {
	// Daemon names the engine in messages ("dockerd").
	Daemon string
	// StartFix tells how to start the engine when its socket does not answer.
	StartFix string
	// Stack names the network stack of containers on the engine's bridge.
	Stack string
	// Ulimits go into every container (podman's defaults can exceed the host's hard limits).
	Ulimits []*container.Ulimit
	// RuntimeFix tells how to register an OCI runtime that the engine lacks; %s is its name.
	RuntimeFix string
}

// Driver runs containers through one Docker API endpoint and one of its OCI runtimes.
type Driver struct {
	profile runtime.Profile
	env     runtime.Env
	engine  Engine
	host    string
	// runtimeName is HostConfig.Runtime; ociRuntime the low-level runtime it stands for.
	runtimeName string
	ociRuntime  string

	mu       sync.Mutex
	cli      *client.Client
	imageRef string
	// noNetwork: the runtime runs with --network=none, so containers get no network.
	noNetwork bool
	// runscNetMode is gVisor's network mode as the daemon runs runsc.
	runscNetMode string
	netName      string
	netID        string
	gateway      string
}

// New makes a driver for any endpoint that speaks Docker's API; the profile's options are
// an Options, its runtime runc unless it names another.
func New(p runtime.Profile, env runtime.Env, e Engine, host string) (*Driver, error) {
	if strings.HasPrefix(host, "/") {
		host = "unix://" + host
	}
	opts := Options{Runtime: "runc"}
	if err := p.DecodeOptions(&opts); err != nil {
		return nil, err
	}
	d := &Driver{profile: p, env: env, engine: e, host: host, runtimeName: opts.Runtime, ociRuntime: orDefault(opts.OCIRuntime, opts.Runtime)}
	if !env.Subnet.IsValid() {
		d.env.Subnet = netip.MustParsePrefix("198.18.0.0/15")
	}
	return d, nil
}

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// Host is the API endpoint the driver talks to.
func (d *Driver) Host() string { return d.host }

// SetHost points the driver at another endpoint (podman's service socket, known only once started).
func (d *Driver) SetHost(host string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.host = host
	if d.cli != nil {
		d.cli.Close()
		d.cli = nil
	}
}

// Client is the driver's API client, made on first use.
func (d *Driver) Client() (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cli != nil {
		return d.cli, nil
	}
	cli, err := client.NewClientWithOpts(client.WithHost(d.host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%s client for %s: %w", d.engine.Daemon, d.host, err)
	}
	d.cli = cli
	return cli, nil
}

// Reachable tells whether the endpoint answers, with Problem and Fix when it does not.
func (d *Driver) Reachable(ctx context.Context) (problem, fix string) {
	cli, err := d.Client()
	if err != nil {
		return err.Error(), "correct the host option of the profile"
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "permission denied") {
			return fmt.Sprintf("no permission on %s's socket %s", d.engine.Daemon, d.host),
				"run isobench as root (sudo), or add your user to the socket's group (docker)"
		}
		return fmt.Sprintf("%s is not running at %s", d.engine.Daemon, d.host), d.engine.StartFix
	}
	return "", ""
}

// Check implements runtime.Driver.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	st := runtime.Status{Class: runtime.ClassContainer, Options: map[string]string{runtime.OptionRuntime: d.runtimeName, runtime.OptionHost: d.host}}
	if d.ociRuntime != "" {
		st.Options[runtime.OptionOCIRuntime] = d.ociRuntime
	}
	if d.isKata() && !kata.Check(&st) {
		return st
	}
	if problem, fix := d.Reachable(ctx); problem != "" {
		st.Problem, st.Fix = problem, fix
		return st
	}
	cli, _ := d.Client()
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := cli.Info(ictx)
	if err != nil {
		st.Problem = fmt.Sprintf("%s at %s: info: %v", d.engine.Daemon, d.host, err)
		st.Fix = "look at the daemon's log; restart it"
		return st
	}
	st.Version = fmt.Sprintf("%s %s", d.engine.Daemon, info.ServerVersion)
	rt, ok := info.Runtimes[d.runtimeName]
	if !ok {
		var names []string
		for n := range info.Runtimes {
			names = append(names, n)
		}
		sort.Strings(names)
		st.Problem = fmt.Sprintf("%s at %s has no runtime %q (it has %s)", d.engine.Daemon, d.host, d.runtimeName, strings.Join(names, ", "))
		if d.isKata() {
			st.Fix = `add to /etc/docker/daemon.json "runtimes": {"kata": {"runtimeType": "io.containerd.kata.v2"}} (dockerd 23 or later; ` +
				`older dockerd: "path": "/usr/bin/kata-runtime") and restart dockerd`
		} else {
			st.Fix = fmt.Sprintf(d.engine.RuntimeFix, d.runtimeName)
		}
		return st
	}
	if rt.Path != "" {
		bin, err := exec.LookPath(rt.Path)
		if err != nil {
			st.Problem = fmt.Sprintf("%s's runtime %q points to %s, which is missing", d.engine.Daemon, d.runtimeName, rt.Path)
			st.Fix = "install it (apt-get install " + d.ociRuntime + ") or fix the path in the daemon's runtimes"
			return st
		}
		st.Binary = bin
		if !st.Hash(bin, &st.SHA256) {
			return st
		}
	}
	st.Found = true
	if d.ociRuntime == "runsc" {
		st.Class = runtime.ClassSandbox
		st.Options[runtime.OptionPlatform] = gvisor.DefaultPlatform
		for _, a := range rt.Args {
			if p, ok := strings.CutPrefix(a, "--platform="); ok {
				st.Options[runtime.OptionPlatform] = p
			}
			switch a {
			case "--network=none":
				st.Options[runtime.OptionNetwork] = gvisor.NetNone
			case "--network=host":
				st.Options[runtime.OptionNetwork] = gvisor.Stack(gvisor.NetHost)
			}
		}
	}
	st.Usable = true
	return st
}

func (d *Driver) isKata() bool {
	return strings.Contains(d.runtimeName, "kata") || strings.Contains(d.ociRuntime, "kata")
}

// ImageRef is the engine's name for img: one tag per image version.
func ImageRef(img *image.Image) string {
	return ImageRepo + img.Name + ":" + img.ShortDigest()
}

// Prepare loads the image into the engine unless it already holds that tag.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error {
	cli, err := d.Client()
	if err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	info, err := cli.Info(ictx)
	cancel()
	if err != nil {
		return fmt.Errorf("%s at %s: info: %w", d.engine.Daemon, d.host, err)
	}
	d.runscNetMode = gvisor.NetSandbox
	for _, a := range info.Runtimes[d.runtimeName].Args {
		switch a {
		case "--network=none":
			d.noNetwork = true
		case "--network=host":
			d.runscNetMode = gvisor.NetHost
		}
	}
	ref := ImageRef(img)
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		d.imageRef = ref
		return nil
	} else if !client.IsErrNotFound(err) {
		return fmt.Errorf("%s at %s: inspecting image %s: %w", d.engine.Daemon, d.host, ref, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(img.WriteDockerArchive(pw, ref)) }()
	resp, err := cli.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("%s at %s: loading image %s: %w", d.engine.Daemon, d.host, ref, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s at %s: loading image %s: %w", d.engine.Daemon, d.host, ref, err)
	}
	if strings.Contains(string(body), `"errorDetail"`) || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("%s at %s: loading image %s: %s", d.engine.Daemon, d.host, ref, strings.TrimSpace(string(body)))
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("%s at %s: image %s missing after load (%s): %w", d.engine.Daemon, d.host, ref, strings.TrimSpace(string(body)), err)
	}
	d.imageRef = ref
	return nil
}

// Close removes the network the driver made.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	netID, netName, cli := d.netID, d.netName, d.cli
	d.netID, d.netName = "", ""
	d.mu.Unlock()
	if netID == "" || cli == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := cli.NetworkRemove(cctx, netID); err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("%s at %s: removing network %s: %w", d.engine.Daemon, d.host, netID, err)
	}
	return RemoveBridge(netName)
}

// BridgeName is the host bridge of isobench's engine network name: named by isobench
// (LinkPrefix) so that a bridge an engine leaves behind is found and removed.
func BridgeName(network string) string {
	h := fnv.New32a()
	h.Write([]byte(network))
	return fmt.Sprintf("%sbr%08x", runtime.LinkPrefix, h.Sum32())
}

// RemoveBridge deletes the bridge of network if the engine left it: podman's netavark
// keeps a bridge whose last container was not torn down through it.
func RemoveBridge(network string) error {
	l, err := netlink.LinkByName(BridgeName(network))
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("finding the bridge of network %s: %w", network, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("removing bridge %s of network %s: %w", l.Attrs().Name, network, err)
	}
	return nil
}

// ensureNetwork makes the driver's internal bridge network on a free /24 of the subnet.
func (d *Driver) ensureNetwork(ctx context.Context, cli *client.Client) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.netName != "" {
		return d.netName, nil
	}
	name := runtime.NamePrefix + "net-" + d.profile.Name
	// A network of that name left by a killed run is reused.
	if n, err := cli.NetworkInspect(ctx, name, network.InspectOptions{}); err == nil {
		if n.Labels[Label] != "1" {
			return "", fmt.Errorf("%s at %s: network %s exists and is not isobench's", d.engine.Daemon, d.host, name)
		}
		d.netName, d.netID, d.gateway = name, n.ID, gatewayOf(n.IPAM)
		return name, nil
	}
	subnet, err := d.freeSubnet(ctx, cli)
	if err != nil {
		return "", err
	}
	gw := subnet.Addr().Next()
	resp, err := cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver:   "bridge",
		Internal: true,
		Labels:   map[string]string{Label: "1"},
		Options:  map[string]string{"com.docker.network.bridge.name": BridgeName(name)},
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{
			Subnet:  subnet.String(),
			Gateway: gw.String(),
		}}},
	})
	if err != nil {
		return "", fmt.Errorf("%s at %s: creating network %s on %s: %w", d.engine.Daemon, d.host, name, subnet, err)
	}
	d.netName, d.netID, d.gateway = name, resp.ID, gw.String()
	return name, nil
}

func gatewayOf(ipam network.IPAM) string {
	for _, c := range ipam.Config {
		if c.Gateway != "" {
			return c.Gateway
		}
	}
	return ""
}

// freeSubnet picks the highest /24 of the subnet that neither a host address nor another
// engine network uses. netsetup allocates from the bottom, so the two rarely meet.
func (d *Driver) freeSubnet(ctx context.Context, cli *client.Client) (netip.Prefix, error) {
	var used []netip.Prefix
	nets, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s at %s: listing networks: %w", d.engine.Daemon, d.host, err)
	}
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("listing host addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			ones, _ := a.Mask.Size()
			used = append(used, netip.PrefixFrom(ip, ones).Masked())
		}
	}
	base := d.env.Subnet.Masked()
	if base.Bits() > 24 {
		return netip.Prefix{}, fmt.Errorf("subnet %s is smaller than a /24", base)
	}
	first := base.Addr().As4()
	count := 1 << (24 - base.Bits())
	start := uint32(first[0])<<24 | uint32(first[1])<<16 | uint32(first[2])<<8
	for i := count - 1; i >= 1; i-- {
		v := start + uint32(i)<<8
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 left in %s for an engine network", base)
}

// New implements runtime.Driver: it only checks the spec and, for networked containers,
// makes the driver's network; everything in the engine happens in Create.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	if d.imageRef == "" {
		return nil, errors.New("driver not prepared: call Prepare first")
	}
	if !strings.HasPrefix(s.ID, runtime.NamePrefix) {
		return nil, fmt.Errorf("container id %q must start with %q", s.ID, runtime.NamePrefix)
	}
	cli, err := d.Client()
	if err != nil {
		return nil, err
	}
	c := &Container{d: d, cli: cli, spec: s, attached: make(chan struct{}), netMode: "none"}
	if s.Network {
		if d.noNetwork {
			return nil, fmt.Errorf("%s's runtime %s runs with --network=none: it cannot run networked containers", d.engine.Daemon, d.runtimeName)
		}
		name, err := d.ensureNetwork(ctx, cli)
		if err != nil {
			return nil, err
		}
		c.netMode = name
	}
	return c, nil
}

// Container is one container in the engine.
type Container struct {
	d       *Driver
	cli     *client.Client
	spec    runtime.Spec
	netMode string

	id         string // the engine's container ID
	waitCancel context.CancelFunc
	waitCh     <-chan container.WaitResponse
	waitErrCh  <-chan error
	closeConn  func()
	attached   chan struct{} // closed when the attach stream ended
	deleted    bool
	netInfo    *runtime.NetworkInfo
}

// ID implements runtime.Container.
func (c *Container) ID() string { return c.spec.ID }

// EngineID is the engine's ID of the container, empty before Create.
func (c *Container) EngineID() string { return c.id }

func (c *Container) errorf(format string, args ...any) error {
	return fmt.Errorf("%s at %s: %s: %w", c.d.engine.Daemon, c.d.host, c.spec.ID, fmt.Errorf(format, args...))
}

// Create creates the container, attaches to its output and registers for its exit, as
// `docker run` does, so that no output and no exit is missed.
func (c *Container) Create(ctx context.Context) error {
	cfg := ContainerConfig(c.d.imageRef, c.spec)
	hc := &container.HostConfig{
		Runtime:     c.d.runtimeName,
		NetworkMode: container.NetworkMode(c.netMode),
		Resources:   EngineResources(c.spec.Resources),
	}
	hc.Resources.Ulimits = c.d.engine.Ulimits
	mounts, err := EngineMounts(c.spec.Mounts)
	if err != nil {
		return err
	}
	hc.Mounts = mounts
	c.id, c.closeConn, err = CreateAttached(ctx, c.cli, cfg, hc, c.spec, c.attached)
	if err != nil {
		return c.errorf("%w", err)
	}
	// The wait lives until Delete, not just this call's context.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.waitCancel = cancel
	c.waitCh, c.waitErrCh = c.cli.ContainerWait(wctx, c.id, container.WaitConditionNextExit)
	return nil
}

// EngineResources turns a spec's limits into the engine's (cpuset and memory, swap
// limited to the same value).
func EngineResources(r runtime.Resources) container.Resources {
	return container.Resources{CpusetCpus: r.CPUs, Memory: r.MemoryBytes, MemorySwap: r.MemoryBytes}
}

// CanLimit implements runtime.ResourceLimiter: the engine applies cpusets and memory
// limits through the container's cgroup.
func (d *Driver) CanLimit(r runtime.Resources) error { return nil }

// EngineMounts turns a spec's mounts into the engine's.
func EngineMounts(ms []runtime.Mount) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, m := range ms {
		switch m.Type {
		case "bind":
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Destination, ReadOnly: m.ReadOnly})
		case "tmpfs":
			out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: m.Destination, ReadOnly: m.ReadOnly,
				TmpfsOptions: &mount.TmpfsOptions{SizeBytes: m.SizeBytes}})
		default:
			return nil, fmt.Errorf("mount %s: unknown type %q", m.Destination, m.Type)
		}
	}
	return out, nil
}

// CreateAttached creates the container named s.ID and attaches to its output before it
// starts, so that no output is missed. The output goes to s.Stdout and s.Stderr until the
// stream ends, then attached is closed. After a failed attach, id is still the created
// container's, for Delete.
func CreateAttached(ctx context.Context, cli *client.Client, cfg *container.Config, hc *container.HostConfig,
	s runtime.Spec, attached chan struct{}) (id string, closeConn func(), err error) {
	resp, err := cli.ContainerCreate(ctx, cfg, hc, nil, nil, s.ID)
	if err != nil {
		return "", nil, fmt.Errorf("create: %w", err)
	}
	att, err := cli.ContainerAttach(ctx, resp.ID, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return resp.ID, nil, fmt.Errorf("attach: %w", err)
	}
	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	go func() {
		defer close(attached)
		_, _ = stdcopy.StdCopy(stdout, stderr, att.Reader)
	}()
	return resp.ID, att.Close, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Start implements runtime.Container.
func (c *Container) Start(ctx context.Context) error {
	if err := StartCreated(ctx, c.cli, c.id); err != nil {
		return c.errorf("%w", err)
	}
	return nil
}

// StartCreated starts the container id that CreateAttached made.
func StartCreated(ctx context.Context, cli *client.Client, id string) error {
	if id == "" {
		return errors.New("container was not created")
	}
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// DrainAttached waits for the attach stream of an exited container to end, so that all
// its output was copied; a child that kept the stream open must not hang the caller.
func DrainAttached(attached <-chan struct{}) {
	select {
	case <-attached:
	case <-time.After(2 * time.Second):
	}
}

// Wait returns the exit code once the container exited and its output is drained.
func (c *Container) Wait(ctx context.Context) (int, error) {
	if c.waitCh == nil {
		return -1, errors.New("container was not created")
	}
	code := -1
	select {
	case r := <-c.waitCh:
		if r.Error != nil && r.Error.Message != "" {
			return -1, c.errorf("wait: %s", r.Error.Message)
		}
		code = int(r.StatusCode)
	case err := <-c.waitErrCh:
		return -1, c.errorf("wait: %w", err)
	case <-ctx.Done():
		return -1, c.errorf("wait: %w", ctx.Err())
	}
	DrainAttached(c.attached)
	return code, nil
}

// Delete force-removes the container with its anonymous volumes. A dead daemon makes it
// fail within 30 seconds rather than hang.
func (c *Container) Delete(ctx context.Context) error {
	if c.deleted {
		return nil
	}
	c.deleted = true
	if c.waitCancel != nil {
		c.waitCancel()
	}
	if c.closeConn != nil {
		c.closeConn()
	}
	if err := RemoveContainer(ctx, c.cli, c.id, c.spec.ID); err != nil {
		return c.errorf("%w", err)
	}
	return nil
}

// ContainerConfig is the engine's configuration of the container of s: labelled as
// isobench's, attached to its output.
func ContainerConfig(imageRef string, s runtime.Spec) *container.Config {
	return &container.Config{
		Image:        imageRef,
		Cmd:          s.Args,
		Env:          s.Env,
		WorkingDir:   s.Cwd,
		Labels:       map[string]string{Label: "1"},
		AttachStdout: true,
		AttachStderr: true,
	}
}

// RemoveContainer force-removes container id (or, when a create failed half-way and left
// no id, the container named name) with its anonymous volumes; a container already gone
// is no error. It goes on after ctx is cancelled (a container must not be left behind)
// but gives up after 30 seconds (a dead daemon must not hang it).
func RemoveContainer(ctx context.Context, cli *client.Client, id, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	target := id
	if target == "" {
		target = name
	}
	var err error
	wait := 50 * time.Millisecond
	for attempt := 0; attempt < 5; attempt++ {
		err = cli.ContainerRemove(ctx, target, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err == nil || client.IsErrNotFound(err) || !killRacedWithExit(err) {
			break
		}
		time.Sleep(wait)
		wait *= 2
	}
	if err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}

// killRacedWithExit tells a forced remove that failed because its SIGKILL met the
// workload's own exit: podman 4.3 then says "container state improper", or, with runsc,
// "could not be stopped" when `runsc kill` finds the sandbox already going (exit 128).
// The next try finds the container stopped.
func killRacedWithExit(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "container state improper") || strings.Contains(msg, "could not be stopped")
}

// Processes lists the engine's per-container monitor (containerd-shim, conmon) and
// everything under it: the workload, or gVisor's sandbox and gofer.
func (c *Container) Processes(ctx context.Context) ([]runtime.Process, error) {
	procs, err := ShimProcesses(ctx, c.cli, c.id)
	if err != nil {
		return nil, c.errorf("%w", err)
	}
	return procs, nil
}

// ShimProcesses is the process tree under the monitor of container id in an engine that
// speaks Docker's API (dockerd, podman's compat service).
func ShimProcesses(ctx context.Context, cli *client.Client, id string) ([]runtime.Process, error) {
	if id == "" {
		return nil, errors.New("container not created")
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := cli.ContainerInspect(ictx, id)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if info.State == nil || info.State.Pid == 0 {
		return nil, errors.New("not running")
	}
	return runtime.ShimTree(info.State.Pid), nil
}

// Network tells the container's address on the driver's network and the bridge's.
func (c *Container) Network() runtime.NetworkInfo {
	if c.netMode == "none" {
		return runtime.NetworkInfo{}
	}
	if c.netInfo != nil {
		return *c.netInfo
	}
	stack := c.d.engine.Stack
	if c.d.ociRuntime == "runsc" {
		stack = gvisor.Stack(c.d.runscNetMode)
	}
	early := runtime.NetworkInfo{HostIP: c.d.gateway, Stack: stack}
	if info, ok := StartedNetwork(c.cli, c.id, c.netMode, early); ok {
		c.netInfo = &info
		return info
	}
	return early
}

// StartedNetwork asks the engine for container id's address on network netMode. Engines
// give a container its address when it starts; until then (ok false) only the host's
// side, early, is known.
func StartedNetwork(cli *client.Client, id, netMode string, early runtime.NetworkInfo) (info runtime.NetworkInfo, ok bool) {
	if id == "" {
		return early, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ci, err := cli.ContainerInspect(ctx, id)
	if err != nil || ci.NetworkSettings == nil {
		return early, false
	}
	ep := ci.NetworkSettings.Networks[netMode]
	if ep == nil || ep.IPAddress == "" {
		return early, false
	}
	host := ep.Gateway
	if host == "" {
		host = early.HostIP
	}
	return runtime.NetworkInfo{ContainerIP: ep.IPAddress, HostIP: host, Stack: early.Stack}, true
}

// Gateway is the host's address on the driver's network ("" before a networked
// container was made).
func (d *Driver) Gateway() string { return d.gateway }

// ListFilter selects what isobench labelled.
func ListFilter() filters.Args { return filters.NewArgs(filters.Arg("label", Label+"=1")) }

// Options are the profile options of a Docker-API engine.
type Options struct {
	// Host is the API endpoint (unix:///var/run/docker.sock, or a path).
	Host string `yaml:"host"`
	// Runtime is a runtime name the engine knows (default runc).
	Runtime string `yaml:"runtime"`
	// OCIRuntime is the OCI runtime behind Runtime (default: Runtime).
	OCIRuntime string `yaml:"oci_runtime"`
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
