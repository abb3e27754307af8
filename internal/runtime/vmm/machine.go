// Package vmm is the host side every microVM driver shares: a Machine (state dir, tap, guest
// spec, console, VMM process, boot phases), the KVM-only driver base, and the VMM sweep.
package vmm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/guestassets"
	"github.com/isobench/isobench/internal/runtime/vmm/guestproto"
	"github.com/isobench/isobench/internal/runtime/vmm/tap"
	"github.com/isobench/isobench/internal/runtime/vmm/unixapi"
)

// Machine is the host side of one microVM that every VMM driver shares: the state
// directory, the tap, the guest spec on the kernel command line (or in a per-VM
// initramfs), the console and the VMM process with its exit. A driver embeds it in its
// container and adds what differs between VMMs: how the VMM is launched and configured
// (Create) and how the guest is let run (Start).
type Machine struct {
	spec runtime.Spec
	// Dir is the VM's state directory (sockets, per-VM initramfs, disk copy); Release removes it.
	Dir string
	// Cmdline is the kernel command line, the guest spec included when it fits.
	Cmdline string
	// Initrd is the initramfs the VM boots: the shared one, or a per-VM one Launch builds.
	Initrd string
	// Disk is the VM's own copy of the image's disk, when MachineConfig.CopyDisk asked for one.
	Disk string
	// Tap is the VM's network link, nil without networking.
	Tap *tap.Tap
	// RawDir holds the console log and the VMM's own log: the trial's raw/ dir, or Dir.
	RawDir string

	assets      *guestassets.Assets
	guestMem    int64
	bootTimeout time.Duration
	label       string // the driver's name, for errors
	console     *os.File
	pending     *pendingInitramfs

	mu       sync.Mutex
	cmd      *exec.Cmd
	con      *Console
	exited   chan struct{}
	closers  []func()
	released bool
}

// pendingInitramfs is the shared initramfs plus bind sources and the spec file, built by Launch.
type pendingInitramfs struct {
	files map[string]string
	extra map[string][]byte
}

// MachineConfig is what NewMachine needs from a driver.
type MachineConfig struct {
	Label       string // the driver's name, for errors
	Home        string // isobench's home; the state directory is <home>/run/<id>
	Spec        runtime.Spec
	Assets      *guestassets.Assets
	Agents      *AgentFiles
	TapSubnet   netip.Prefix
	BaseCmdline string // the kernel command line before the guest spec
	GuestMemory int64  // bytes, to tell the VMM's own memory from the guest's
	BootTimeout time.Duration
	// CopyDisk gives the VM its own writable copy of the image's disk (VMMs without a
	// copy-on-write view of a disk: Firecracker, Cloud Hypervisor).
	CopyDisk bool
}

// NewMachine makes everything a VM needs before its VMM starts: the state directory, the
// guest spec, the tap with the guest's address, the disk copy and the console log. On
// error nothing is left behind.
func NewMachine(ctx context.Context, cfg MachineConfig) (m *Machine, err error) {
	s := cfg.Spec
	if len(s.Args) == 0 {
		return nil, fmt.Errorf("%s: no command to run", cfg.Label)
	}
	m = &Machine{spec: s, Dir: filepath.Join(cfg.Home, "run", s.ID), assets: cfg.Assets,
		guestMem: cfg.GuestMemory, bootTimeout: cfg.BootTimeout, label: cfg.Label}
	defer func() {
		if err != nil {
			_ = m.Release(context.WithoutCancel(ctx))
		}
	}()
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return m, fmt.Errorf("creating VM state directory: %w", err)
	}
	gs := guestproto.GuestSpec{Args: s.Args, Env: s.Env, Cwd: s.Cwd, RootDevice: "/dev/vda", RootFSType: "ext4"}
	mounts, files, err := cfg.Agents.GuestMounts(s.Mounts, cfg.Assets.AgentSHA)
	if err != nil {
		return m, err
	}
	gs.Mounts = mounts
	if s.Network {
		tap, err := tap.Create(s.ID, cfg.TapSubnet)
		if err != nil {
			return m, err
		}
		m.Tap = tap
		gs.Net = &guestproto.GuestNet{Interface: "eth0", Address: tap.GuestCIDR(), Gateway: tap.HostIP.String()}
	}
	enc, err := guestproto.EncodeSpec(gs)
	if err != nil {
		return m, err
	}
	m.Cmdline = cfg.BaseCmdline
	extra := map[string][]byte{}
	if len(enc) <= guestproto.MaxCmdlineSpec {
		m.Cmdline += " " + guestproto.CmdlineSpecKey + "=" + enc
	} else {
		extra[guestproto.SpecFile] = []byte(enc)
	}
	m.Initrd = cfg.Assets.Initramfs
	if len(files) > 0 || len(extra) > 0 {
		// Built by Launch, so bind sources written after New (a benchmark's address
		// files) reach the guest, as they reach a container's bind mounts.
		m.Initrd = filepath.Join(m.Dir, "initramfs.cpio")
		m.pending = &pendingInitramfs{files: files, extra: extra}
	}
	if cfg.CopyDisk {
		// The shared disk stays untouched: each VM writes to its own sparse (or reflinked) copy.
		m.Disk = filepath.Join(m.Dir, "rootfs.ext4")
		if out, err := exec.CommandContext(ctx, "cp", "--reflink=auto", "--sparse=always", cfg.Assets.Disk, m.Disk).CombinedOutput(); err != nil {
			return m, fmt.Errorf("copying the root disk: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	m.RawDir = s.RawDir
	if m.RawDir == "" {
		m.RawDir = m.Dir
	}
	if m.console, err = os.Create(filepath.Join(m.RawDir, "console.log")); err != nil {
		return m, fmt.Errorf("creating console log: %w", err)
	}
	return m, nil
}

// ID implements runtime.Container.
func (m *Machine) ID() string { return m.spec.ID }

// buildInitramfs writes the per-VM initramfs if the VM needs one, just before the VMM
// starts, so bind sources written after New reach the guest.
func (m *Machine) buildInitramfs() error {
	if m.pending == nil {
		return nil
	}
	return guestassets.AppendInitramfs(m.Initrd, m.assets.Initramfs, m.pending.files, m.pending.extra)
}

// Launch builds the per-VM initramfs, if any, and starts the VMM process. Its stdout (and
// its stderr, unless cmd.Stderr is set) is the guest's serial console. The VMM gets its
// own process group, so a Ctrl-C reaches isobench, which deletes the VM in order, and
// dies with isobench if isobench is killed.
func (m *Machine) Launch(cmd *exec.Cmd) error {
	if err := m.buildInitramfs(); err != nil {
		return err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("console pipe: %w", err)
	}
	cmd.Stdout = pw
	if cmd.Stderr == nil {
		cmd.Stderr = pw
	}
	con := NewConsole(m.console, m.spec.Stdout, m.spec.Stderr)
	exited := make(chan struct{})
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	m.mu.Lock()
	m.cmd, m.con, m.exited = cmd, con, exited
	m.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	go func() {
		defer pr.Close()
		con.Read(pr)
	}()
	// A panicked guest is over, whatever the VMM does next (stop, reboot, hang); the
	// grace lets the rest of the panic report reach the console log.
	m.killAfter(con.PanicSeen, con.PanicReported, exited, 500*time.Millisecond)
	return nil
}

// killAfter kills the VMM once done closes or grace after signal closes, unless it
// exits by itself.
func (m *Machine) killAfter(signal, done, exited <-chan struct{}, grace time.Duration) {
	go func() {
		select {
		case <-signal:
		case <-exited:
			return
		}
		select {
		case <-exited:
		case <-done:
			m.Kill()
		case <-time.After(grace):
			m.Kill()
		}
	}()
}

// Exited closes when the VMM process is gone; nil before Launch.
func (m *Machine) Exited() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exited
}

// Console is the VM's console; nil before Launch.
func (m *Machine) Console() *Console {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.con
}

// LaunchAPI starts a VMM that is configured through its REST API and returns once the
// API answers GET readyPath. logPath is the VMM's own log, quoted in errors.
func (m *Machine) LaunchAPI(ctx context.Context, cmd *exec.Cmd, api *unixapi.Client, readyPath, logPath string) error {
	if err := m.Launch(cmd); err != nil {
		return err
	}
	m.OnDelete(api.Close)
	// The agent powers the guest off; should the VMM stay up after that, it is stopped.
	m.StopAfterExit(2 * time.Second)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := api.WaitReady(actx, readyPath, m.Exited()); err != nil {
		return fmt.Errorf("%w (%s log: %s)", err, api.Label, TailOfFile(logPath))
	}
	return nil
}

// StartWith is a driver's Start: run is the VMM call that lets the vCPUs run. Phases are
// measured from before it, and vmm_started is when the VMM answered; the guest's own
// phases follow asynchronously (see Phases).
func (m *Machine) StartWith(ctx context.Context, run func(context.Context) error) error {
	con := m.Console()
	if con == nil {
		return fmt.Errorf("%s: Start before Create", m.label)
	}
	con.MarkStart(time.Now())
	if err := run(ctx); err != nil {
		return err
	}
	con.AddPhase(runtime.PhaseVMMStarted, time.Now())
	return nil
}

// StopAfterExit ends the VM shortly after the agent reported the workload's end, for VMMs
// that may keep running after the guest powered off.
func (m *Machine) StopAfterExit(grace time.Duration) {
	m.killAfter(m.Console().ExitSeen, nil, m.Exited(), grace)
}

// Phases implements runtime.PhaseReporter, in time order.
func (m *Machine) Phases() []runtime.Phase {
	if con := m.Console(); con != nil {
		return con.Phases()
	}
	return nil
}

// GuestInitBoottime is the guest's own clock (CLOCK_BOOTTIME) when the agent started: the
// kernel's view of how long its boot took, independent of the host's timestamps.
func (m *Machine) GuestInitBoottime() time.Duration {
	if con := m.Console(); con != nil {
		return con.GuestInitBoottime()
	}
	return 0
}

// Wait implements runtime.Container: the exit code the agent reported, once the VMM
// exited. A guest that does not reach init within the boot timeout (kernel hang, missing
// driver) ends the trial instead of waiting for the run's timeout.
func (m *Machine) Wait(ctx context.Context) (int, error) {
	con, exited := m.Console(), m.Exited()
	if con == nil {
		return -1, fmt.Errorf("%s: Wait before Create", m.label)
	}
	return con.Wait(ctx, exited, m.bootTimeout, m.Kill)
}

// Kill stops the VMM at once and returns when it is gone.
func (m *Machine) Kill() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Kill()
	<-exited
}

// OnDelete registers what Delete closes after the VMM is gone (a driver's API client).
func (m *Machine) OnDelete(close func()) {
	m.mu.Lock()
	m.closers = append(m.closers, close)
	m.mu.Unlock()
}

// Delete implements runtime.Container: the VMM goes, which is the runtime's part of a
// delete; its tap and state directory are isobench's and go in Release, after the clock.
func (m *Machine) Delete(ctx context.Context) error {
	m.Kill()
	m.mu.Lock()
	closers, con := m.closers, m.con
	m.closers = nil
	m.mu.Unlock()
	for _, c := range closers {
		c()
	}
	if con != nil {
		select {
		case <-con.Done:
		case <-time.After(5 * time.Second):
			// Something else holds the console pipe open; do not hang cleanup on it.
		}
	}
	return nil
}

// Release implements runtime.Releaser: after Delete, the tap and the state directory
// (sockets, per-VM initramfs, disk copies) go. Safe to call more than once.
func (m *Machine) Release(ctx context.Context) error {
	if err := m.Delete(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	if m.released {
		m.mu.Unlock()
		return nil
	}
	m.released = true
	m.mu.Unlock()
	var errs []error
	if m.console != nil {
		if err := m.console.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing console log: %w", err))
		}
	}
	if m.Tap != nil {
		if err := m.Tap.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(m.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing VM state: %w", err))
	}
	return errors.Join(errs...)
}

// Processes implements runtime.Container: the VMM is the only host process of a VM.
func (m *Machine) Processes(ctx context.Context) ([]runtime.Process, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return nil, nil
	}
	select {
	case <-m.exited:
		return nil, nil
	default:
	}
	return runtime.ProcessTree(m.cmd.Process.Pid, runtime.RoleVMM), nil
}

// Network implements runtime.Container.
func (m *Machine) Network() runtime.NetworkInfo {
	if m.Tap == nil {
		return runtime.NetworkInfo{}
	}
	return runtime.NetworkInfo{ContainerIP: m.Tap.GuestIP.String(), HostIP: m.Tap.HostIP.String(), Stack: "virtio-net-tap"}
}

// MemoryOverheadBytes is the VMM's own memory: its PSS minus the PSS of the guest RAM
// mapping (see ReadVMMMemory). Call it while the VM runs.
func (m *Machine) MemoryOverheadBytes() (int64, error) {
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, fmt.Errorf("%s: VM not running", m.label)
	}
	mem, err := ReadVMMMemory(cmd.Process.Pid, m.guestMem)
	if err != nil {
		return 0, err
	}
	return mem.Overhead(), nil
}

// TailOfFile is the last lines of a VMM's log, for error messages.
func TailOfFile(path string) string {
	data, _ := os.ReadFile(path)
	return LastLines(data, 3)
}
