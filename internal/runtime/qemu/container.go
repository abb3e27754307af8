package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/vm"
)

// Phase names a container reports (runtime.PhaseReporter), measured from the start call.
const (
	PhaseVMMStarted      = vm.PhaseVMMStarted // qemu answered QMP cont (the guest may have printed already)
	PhaseKernelStart     = vm.PhaseKernelStart
	PhaseInitReached     = vm.PhaseInitReached
	PhaseWorkloadStarted = vm.PhaseWorkloadStarted
	PhaseWorkloadExit    = vm.PhaseWorkloadExit
)

type container struct {
	d       *Driver
	spec    runtime.Spec
	dir     string
	tap     *vm.Tap
	args    []string
	tmpEnv  string
	console *os.File    // console.log, the raw serial output
	con     *vm.Console // demultiplexes the console; made by Create

	mu      sync.Mutex
	cmd     *exec.Cmd
	qmp     *qmp
	exited  chan struct{}
	deleted bool
	initrd  *pendingInitramfs // the per-VM initramfs Create builds, if any
}

// pendingInitramfs is the base initramfs plus the bind sources and the spec file.
type pendingInitramfs struct {
	path  string
	files map[string]string
	extra map[string][]byte
}

// New implements runtime.Driver: the per-VM initramfs (when bind mounts need files the
// base one lacks), the tap device and the qemu command line.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	if d.assets == nil {
		return nil, errors.New("qemu-microvm: Prepare was not called")
	}
	if len(s.Args) == 0 {
		return nil, errors.New("qemu-microvm: no command to run")
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
		tap, err := vm.CreateTap(s.ID, d.tapSubnet())
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
	cmdline := "console=ttyS0 panic=-1 loglevel=6 " +
		"i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1"
	if d.accel == "tcg" {
		// Under TCG the PIT calibration of the TSC fails now and then, and the kernel
		// hangs; the guest TSC runs at the host's rate, so tell the guest that rate.
		if khz := hostTSCkHz(); khz > 0 {
			cmdline += " tsc_early_khz=" + strconv.Itoa(khz)
		}
	}
	extra := map[string][]byte{}
	if len(enc) <= vm.MaxCmdlineSpec {
		cmdline += " " + vm.CmdlineSpecKey + "=" + enc
	} else {
		extra[vm.SpecFile] = []byte(enc)
	}
	initrd := d.assets.Initramfs
	if len(files) > 0 || len(extra) > 0 {
		// Built in Create, so that bind sources written after New (a benchmark's address
		// files) reach the guest, as they reach a container's bind mounts.
		initrd = filepath.Join(c.dir, "initramfs.cpio")
		c.initrd = &pendingInitramfs{path: initrd, files: files, extra: extra}
	}
	accel, cpu := "tcg", "max"
	if d.accel == "kvm" {
		accel, cpu = "kvm", "host"
	}
	c.args = []string{
		"-name", s.ID,
		"-M", d.machine(), "-accel", accel, "-cpu", cpu,
		"-m", strconv.FormatInt(d.memBytes>>20, 10) + "M", "-smp", strconv.Itoa(d.cpus),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-S",
		"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
		"-qmp", "unix:" + c.qmpPath() + ",server=on,wait=off",
		"-kernel", d.kernel, "-initrd", initrd, "-append", cmdline,
		// snapshot=on keeps the shared disk untouched; the copy-on-write file goes to
		// $TMPDIR, which is this VM's state directory, so Delete removes it even after
		// qemu was killed.
		"-drive", "id=root,file=" + d.assets.Disk + ",format=raw,if=none,snapshot=on,cache=unsafe",
		"-device", "virtio-blk-device,drive=root",
	}
	if c.tap != nil {
		netdev := "tap,id=net0,ifname=" + c.tap.Name + ",script=no,downscript=no"
		if vhostNet() {
			netdev += ",vhost=on"
		}
		c.args = append(c.args, "-netdev", netdev,
			"-device", "virtio-net-device,netdev=net0,mac="+macFor(c.tap.GuestIP))
	}
	c.tmpEnv = c.dir
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

func (c *container) qmpPath() string { return filepath.Join(c.dir, "qmp.sock") }

// hostTSCkHz reads the host's clock rate from /proc/cpuinfo, 0 when unknown.
func hostTSCkHz() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0
			}
			return int(mhz * 1000)
		}
	}
	return 0
}

// ID implements runtime.Container.
func (c *container) ID() string { return c.spec.ID }

// Create implements runtime.Container: qemu starts with the VM paused (-S) and returns
// once its QMP socket answers, so the device model is built but no guest code ran.
func (c *container) Create(ctx context.Context) error {
	if c.initrd != nil {
		if err := vm.AppendInitramfs(c.initrd.path, c.d.assets.Initramfs, c.initrd.files, c.initrd.extra); err != nil {
			return err
		}
	}
	cmd := exec.Command(c.d.qemu, c.args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+c.tmpEnv)
	// Own process group: a Ctrl-C goes to isobench, which deletes the VM in order.
	// Pdeathsig: if isobench dies anyway, the VM does not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("console pipe: %w", err)
	}
	cmd.Stdout = pw
	stderrPath := filepath.Join(filepath.Dir(c.console.Name()), "qemu.log")
	stderr, err := os.Create(stderrPath)
	if err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("creating qemu log: %w", err)
	}
	cmd.Stderr = stderr
	c.mu.Lock()
	c.exited = make(chan struct{})
	c.con = vm.NewConsole(c.console, c.spec.Stdout, c.spec.Stderr)
	c.mu.Unlock()
	err = cmd.Start()
	pw.Close()
	stderr.Close()
	if err != nil {
		pr.Close()
		return fmt.Errorf("starting %s: %w", c.d.qemu, err)
	}
	c.mu.Lock()
	c.cmd = cmd
	c.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	go func() {
		defer pr.Close()
		c.con.Read(pr)
	}()
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	q, err := dialQMP(qctx, c.qmpPath(), c.exited)
	if err != nil {
		return fmt.Errorf("%w (qemu log: %s)", err, tailOfFile(stderrPath))
	}
	c.mu.Lock()
	c.qmp = q
	c.mu.Unlock()
	return nil
}

// Start implements runtime.Container: it resumes the VM and returns when qemu says the
// CPUs run. The guest's own phases follow asynchronously (see Phases).
func (c *container) Start(ctx context.Context) error {
	if c.qmp == nil {
		return errors.New("qemu-microvm: Start before Create")
	}
	c.con.MarkStart(time.Now())
	if err := c.qmp.execute(ctx, "cont"); err != nil {
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

// GuestInitBoottime is the guest's own clock (CLOCK_BOOTTIME) when the agent started: the
// kernel's view of how long its boot took, independent of the host's timestamps.
func (c *container) GuestInitBoottime() time.Duration {
	if c.con == nil {
		return 0
	}
	return c.con.GuestInitBoottime()
}

// bootTimeout bounds the wait for the agent's init line: a guest that never gets there
// (kernel hang, missing driver) ends the trial instead of waiting for the run's timeout.
func (c *container) bootTimeout() time.Duration {
	def := "10s"
	if c.d.accel == "tcg" {
		def = "60s"
	}
	d, err := time.ParseDuration(c.d.profile.Option("boot_timeout", def))
	if err != nil || d <= 0 {
		return time.Minute
	}
	return d
}

// Wait implements runtime.Container: the exit code the agent reported, once qemu exited.
func (c *container) Wait(ctx context.Context) (int, error) {
	if c.cmd == nil {
		return -1, errors.New("qemu-microvm: Wait before Create")
	}
	return c.con.Wait(ctx, c.exited, c.bootTimeout(), c.kill)
}

func tailOfFile(path string) string {
	data, _ := os.ReadFile(path)
	return vm.LastLines(data, 3)
}

// kill stops qemu at once and waits for it to be gone.
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

// Delete implements runtime.Container: qemu, the tap device and the state directory
// (per-VM initramfs, QMP socket, the disk's copy-on-write file) go.
func (c *container) Delete(ctx context.Context) error {
	c.kill()
	c.mu.Lock()
	if c.deleted {
		c.mu.Unlock()
		return nil
	}
	c.deleted = true
	q, con := c.qmp, c.con
	c.mu.Unlock()
	var readDone chan struct{}
	if con != nil {
		readDone = con.Done
	}
	var errs []error
	if q != nil {
		_ = q.close()
	}
	if readDone != nil {
		select {
		case <-readDone:
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

// MemoryOverheadBytes is the VMM's own memory: qemu's PSS minus the PSS of the guest RAM
// mapping (see vm.ReadVMMMemory). Call it while the VM runs.
func (c *container) MemoryOverheadBytes() (int64, error) {
	c.mu.Lock()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, errors.New("qemu-microvm: VM not running")
	}
	m, err := vm.ReadVMMMemory(cmd.Process.Pid, c.d.memBytes)
	if err != nil {
		return 0, err
	}
	return m.Overhead(), nil
}
