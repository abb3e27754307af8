package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/vm"
)

// Phase names, shared with the other microVM drivers; vmm_started is InstanceStart's answer.
const (
	PhaseVMMStarted      = vm.PhaseVMMStarted
	PhaseKernelStart     = vm.PhaseKernelStart
	PhaseInitReached     = vm.PhaseInitReached
	PhaseWorkloadStarted = vm.PhaseWorkloadStarted
	PhaseWorkloadExit    = vm.PhaseWorkloadExit
)

// baseCmdline is the kernel command line before the guest spec. Firecracker appends the
// virtio_mmio.device=... parameters of its devices itself.
//
// UNTESTED (no firecracker binary and no KVM that runs ordinary guests on the machine this
// was written on). Debian's cloud kernel builds virtio_mmio as a module WITHOUT
// CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (see /boot/config-*-cloud-amd64), so the module has
// no "device" parameter and the virtio_mmio.device= entries cannot announce the devices;
// besides, the kernel does not apply <module>.<param>= from its command line to modules
// loaded later (modprobe does that, and the agent loads modules with finit_module and no
// parameters). What can find the disk and the NIC with this kernel is ACPI: Firecracker
// 1.10 and later describe their virtio-mmio devices in the DSDT (LNRO0005), which
// virtio_mmio matches, as under qemu's microvm. So ACPI must stay on (no acpi=off here),
// and older Firecracker releases need a kernel with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y.
const baseCmdline = "console=ttyS0 reboot=k panic=-1 pci=off"

// kernelCmdline is the boot args for an encoded guest spec, which goes on the command line
// as for qemu-microvm unless it is too long (then it travels in the initramfs: inline false).
func kernelCmdline(encSpec string) (cmdline string, inline bool) {
	if len(encSpec) <= vm.MaxCmdlineSpec {
		return baseCmdline + " " + vm.CmdlineSpecKey + "=" + encSpec, true
	}
	return baseCmdline, false
}

// vmParams is what a VM's configuration depends on.
type vmParams struct {
	VCPUs    int
	MemBytes int64
	Vmlinux  string
	Initrd   string
	Cmdline  string
	Disk     string // the per-VM copy of the image's disk
	Tap      *vm.Tap
}

// buildConfig is the machine configuration Create sends through the API.
func buildConfig(p vmParams) Config {
	c := Config{
		BootSource:    BootSource{KernelImagePath: p.Vmlinux, InitrdPath: p.Initrd, BootArgs: p.Cmdline},
		MachineConfig: MachineConfiguration{VcpuCount: p.VCPUs, MemSizeMib: p.MemBytes >> 20, Smt: false},
		// Not the root device: the agent mounts /dev/vda itself, and is_root_device would
		// add root=/dev/vda to the command line. Writable, since it is this VM's own copy.
		Drives:            []Drive{{DriveID: "rootfs", PathOnHost: p.Disk, IsRootDevice: false, IsReadOnly: false, CacheType: "Unsafe"}},
		NetworkInterfaces: []NetworkInterface{},
	}
	if p.Tap != nil {
		c.NetworkInterfaces = append(c.NetworkInterfaces, NetworkInterface{
			IfaceID: "eth0", HostDevName: p.Tap.Name, GuestMac: vm.GuestMAC(p.Tap.GuestIP)})
	}
	return c
}

type container struct {
	d       *Driver
	spec    runtime.Spec
	dir     string
	tap     *vm.Tap
	config  Config
	console *os.File // console.log, the raw serial output
	initrd  *pendingInitramfs

	mu      sync.Mutex
	cmd     *exec.Cmd
	api     *apiClient
	con     *vm.Console
	exited  chan struct{}
	deleted bool
}

// pendingInitramfs is the base initramfs plus the bind sources and the spec file.
type pendingInitramfs struct {
	path  string
	files map[string]string
	extra map[string][]byte
}

func (c *container) apiSock() string  { return filepath.Join(c.dir, "firecracker.sock") }
func (c *container) diskPath() string { return filepath.Join(c.dir, "rootfs.ext4") }

// New implements runtime.Driver: the guest spec, the per-VM disk copy, the tap device and
// the machine configuration.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	if d.assets == nil {
		return nil, errNotPrepared
	}
	if len(s.Args) == 0 {
		return nil, errors.New("firecracker: no command to run")
	}
	c := &container{d: d, spec: s, dir: filepath.Join(d.home(), "run", s.ID)}
	ok := false
	defer func() {
		if !ok {
			_ = c.Delete(context.WithoutCancel(ctx))
		}
	}()
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating VM state directory: %w", err)
	}
	gs := vm.GuestSpec{Args: s.Args, Env: s.Env, Cwd: s.Cwd, RootDevice: "/dev/vda", RootFSType: "ext4"}
	mounts, files, err := d.agents.GuestMounts(s.Mounts, d.assets.AgentSHA)
	if err != nil {
		return nil, err
	}
	gs.Mounts = mounts
	if s.Network {
		tap, err := vm.CreateTap(s.ID, vm.TapSubnetFor(d.env.Subnet))
		if err != nil {
			return nil, err
		}
		c.tap = tap
		gs.Net = &vm.GuestNet{Interface: "eth0", Address: tap.GuestCIDR(), Gateway: tap.HostIP.String()}
	}
	enc, err := vm.EncodeSpec(gs)
	if err != nil {
		return nil, err
	}
	cmdline, inline := kernelCmdline(enc)
	extra := map[string][]byte{}
	if !inline {
		extra[vm.SpecFile] = []byte(enc)
	}
	initrd := d.assets.Initramfs
	if len(files) > 0 || len(extra) > 0 {
		// Built in Create, so bind sources written after New reach the guest.
		initrd = filepath.Join(c.dir, "initramfs.cpio")
		c.initrd = &pendingInitramfs{path: initrd, files: files, extra: extra}
	}
	// The shared disk stays untouched: each VM writes to its own sparse (or reflinked) copy.
	if out, err := exec.CommandContext(ctx, "cp", "--reflink=auto", "--sparse=always", d.assets.Disk, c.diskPath()).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copying the root disk: %v: %s", err, strings.TrimSpace(string(out)))
	}
	c.config = buildConfig(vmParams{VCPUs: d.cpus, MemBytes: d.memBytes, Vmlinux: d.vmlinux,
		Initrd: initrd, Cmdline: cmdline, Disk: c.diskPath(), Tap: c.tap})
	rawDir := s.RawDir
	if rawDir == "" {
		rawDir = c.dir
	}
	if c.console, err = os.Create(filepath.Join(rawDir, "console.log")); err != nil {
		return nil, fmt.Errorf("creating console log: %w", err)
	}
	ok = true
	return c, nil
}

// ID implements runtime.Container.
func (c *container) ID() string { return c.spec.ID }

// Create implements runtime.Container: firecracker starts with its API socket in the
// state directory and gets the whole configuration, but no InstanceStart: no guest code ran.
func (c *container) Create(ctx context.Context) error {
	if c.initrd != nil {
		if err := vm.AppendInitramfs(c.initrd.path, c.d.assets.Initramfs, c.initrd.files, c.initrd.extra); err != nil {
			return err
		}
	}
	logPath := filepath.Join(filepath.Dir(c.console.Name()), "firecracker.log")
	// --log-path must exist; it keeps firecracker's own log off the serial console (stdout).
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return fmt.Errorf("creating firecracker log: %w", err)
	}
	cmd := exec.Command(c.d.binary, "--api-sock", c.apiSock(), "--id", c.spec.ID,
		"--log-path", logPath, "--level", "Warning")
	// Own process group: a Ctrl-C goes to isobench, which deletes the VM in order.
	// Pdeathsig: if isobench dies anyway, the VM does not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("console pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	c.mu.Lock()
	c.exited = make(chan struct{})
	c.con = vm.NewConsole(c.console, c.spec.Stdout, c.spec.Stderr)
	c.mu.Unlock()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return fmt.Errorf("starting %s: %w", c.d.binary, err)
	}
	c.mu.Lock()
	c.cmd = cmd
	c.api = newAPIClient(c.apiSock())
	c.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	go func() {
		defer pr.Close()
		c.con.Read(pr)
	}()
	go c.stopAfterExit()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.api.waitReady(actx, c.exited); err != nil {
		return fmt.Errorf("%w (firecracker log: %s)", err, tailOfFile(logPath))
	}
	if err := c.api.configure(actx, c.config); err != nil {
		return fmt.Errorf("%w (firecracker log: %s)", err, tailOfFile(logPath))
	}
	return nil
}

// stopAfterExit ends the VM shortly after the agent reported the workload's end: the
// agent powers off, which Firecracker may not turn into its own exit (UNTESTED for lack of
// KVM; a panic with reboot=k does make it exit).
func (c *container) stopAfterExit() {
	select {
	case <-c.con.ExitSeen:
	case <-c.exited:
		return
	}
	select {
	case <-c.exited:
	case <-time.After(2 * time.Second):
		c.kill()
	}
}

// Start implements runtime.Container: InstanceStart, returning when Firecracker says the
// vCPUs run. The guest's own phases follow asynchronously (see Phases).
func (c *container) Start(ctx context.Context) error {
	if c.api == nil {
		return errors.New("firecracker: Start before Create")
	}
	c.con.MarkStart(time.Now())
	if err := c.api.put(ctx, "/actions", InstanceActionInfo{ActionType: "InstanceStart"}); err != nil {
		return err
	}
	c.con.AddPhase(PhaseVMMStarted, time.Now())
	return nil
}

// Phases implements runtime.PhaseReporter, in time order.
func (c *container) Phases() []runtime.Phase {
	if c.con == nil {
		return nil
	}
	return c.con.Phases()
}

// GuestInitBoottime is the guest's CLOCK_BOOTTIME when the agent started.
func (c *container) GuestInitBoottime() time.Duration {
	if c.con == nil {
		return 0
	}
	return c.con.GuestInitBoottime()
}

func (c *container) bootTimeout() time.Duration {
	d, err := time.ParseDuration(c.d.profile.Option("boot_timeout", "10s"))
	if err != nil || d <= 0 {
		return 10 * time.Second
	}
	return d
}

// Wait implements runtime.Container: the exit code the agent reported, once firecracker exited.
func (c *container) Wait(ctx context.Context) (int, error) {
	if c.cmd == nil {
		return -1, errors.New("firecracker: Wait before Create")
	}
	return c.con.Wait(ctx, c.exited, c.bootTimeout(), c.kill)
}

func tailOfFile(path string) string {
	data, _ := os.ReadFile(path)
	return vm.LastLines(data, 3)
}

// kill stops firecracker at once and waits for it to be gone.
func (c *container) kill() {
	c.mu.Lock()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	_ = cmd.Process.Kill()
	<-c.exited
}

// Delete implements runtime.Container: firecracker, the tap device and the state
// directory (API socket, per-VM initramfs, the disk copy) go.
func (c *container) Delete(ctx context.Context) error {
	c.kill()
	c.mu.Lock()
	if c.deleted {
		c.mu.Unlock()
		return nil
	}
	c.deleted = true
	api, con := c.api, c.con
	c.mu.Unlock()
	var errs []error
	if api != nil {
		api.close()
	}
	if con != nil {
		select {
		case <-con.Done:
		case <-time.After(5 * time.Second):
			// Something else holds the console pipe open; do not hang cleanup on it.
		}
	}
	if c.console != nil {
		if err := c.console.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing console log: %w", err))
		}
	}
	if c.tap != nil {
		if err := c.tap.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("removing VM state: %w", err))
	}
	return errors.Join(errs...)
}

// Release implements runtime.Releaser. Delete already removes everything (the VMM's exit
// is the runtime's work), so Release only makes sure Delete ran.
func (c *container) Release(ctx context.Context) error { return c.Delete(ctx) }

// Processes implements runtime.Container: the VMM is the only host process of a VM.
func (c *container) Processes(ctx context.Context) ([]runtime.Process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return nil, nil
	}
	select {
	case <-c.exited:
		return nil, nil
	default:
	}
	return runtime.ProcessTree(c.cmd.Process.Pid, "vmm"), nil
}

// Network implements runtime.Container.
func (c *container) Network() runtime.NetworkInfo {
	if c.tap == nil {
		return runtime.NetworkInfo{}
	}
	return runtime.NetworkInfo{ContainerIP: c.tap.GuestIP.String(), HostIP: c.tap.HostIP.String(), Stack: "virtio-net-tap"}
}

// MemoryOverheadBytes is the VMM's own memory: PSS minus the guest RAM mapping's.
func (c *container) MemoryOverheadBytes() (int64, error) {
	c.mu.Lock()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, errors.New("firecracker: VM not running")
	}
	m, err := vm.ReadVMMMemory(cmd.Process.Pid, c.d.memBytes)
	if err != nil {
		return 0, err
	}
	return m.Overhead(), nil
}
