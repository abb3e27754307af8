package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
)

// container is one QEMU microvm; vmm.Machine holds what every VMM shares.
type container struct {
	*vmm.Machine
	d    *Driver
	args []string
	qmp  *qmp // set by Create, used by Start
}

// New implements runtime.Driver: the guest spec, the tap device and the qemu command line.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	if d.assets == nil {
		return nil, errors.New("qemu-microvm: Prepare was not called")
	}
	// panic=-1 reboot=t: a panicking kernel triple-faults at once, which ends qemu
	// (-no-reboot); the default reboot methods hung now and then under TCG on a busy host.
	cmdline := "console=ttyS0 panic=-1 reboot=t loglevel=6 " +
		"i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1"
	if d.accel == "tcg" {
		cmdline += vmm.TCGClockArgs()
	}
	m, err := vmm.NewMachine(ctx, vmm.MachineConfig{
		Label: DriverName, Home: d.home(), Spec: s, Assets: d.assets, Agents: &d.agents,
		TapSubnet: d.tapSubnet(), BaseCmdline: cmdline, GuestMemory: d.memBytes, BootTimeout: d.bootTimeout(),
	})
	if err != nil {
		return nil, err
	}
	c := &container{Machine: m, d: d}
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
		"-kernel", d.kernel, "-initrd", m.Initrd, "-append", m.Cmdline,
		// snapshot=on keeps the shared disk untouched; the copy-on-write file goes to
		// $TMPDIR, which is this VM's state directory, so Release removes it even after
		// qemu was killed.
		"-drive", "id=root,file=" + d.assets.Disk + ",format=raw,if=none,snapshot=on,cache=unsafe",
		"-device", "virtio-blk-device,drive=root",
	}
	if m.Tap != nil {
		netdev := "tap,id=net0,ifname=" + m.Tap.Name + ",script=no,downscript=no"
		if vhostNet() {
			netdev += ",vhost=on"
		}
		c.args = append(c.args, "-netdev", netdev,
			"-device", "virtio-net-device,netdev=net0,mac="+vmm.GuestMAC(m.Tap.GuestIP))
	}
	return c, nil
}

func (c *container) qmpPath() string { return filepath.Join(c.Dir, "qmp.sock") }

// Create implements runtime.Container: qemu starts with the VM paused (-S) and returns
// once its QMP socket answers, so the device model is built but no guest code ran.
func (c *container) Create(ctx context.Context) error {
	cmd := exec.Command(c.d.qemu, c.args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+c.Dir)
	logPath := filepath.Join(c.RawDir, "qemu.log")
	stderr, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("creating qemu log: %w", err)
	}
	cmd.Stderr = stderr
	err = c.Launch(cmd)
	stderr.Close()
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	q, err := dialQMP(qctx, c.qmpPath(), c.Exited())
	if err != nil {
		return fmt.Errorf("%w (qemu log: %s)", err, vmm.TailOfFile(logPath))
	}
	c.qmp = q
	c.OnDelete(func() { _ = q.close() })
	return nil
}

// Start implements runtime.Container: it resumes the VM and returns when qemu says the
// CPUs run.
func (c *container) Start(ctx context.Context) error {
	return c.StartWith(ctx, func(ctx context.Context) error { return c.qmp.execute(ctx, "cont") })
}

// bootTimeout bounds the wait for the agent's init line; TCG boots are slow.
func (d *Driver) bootTimeout() time.Duration {
	def := "10s"
	if d.accel == "tcg" {
		def = "60s"
	}
	t, err := time.ParseDuration(orDefault(d.opts.BootTimeout, def))
	if err != nil || t <= 0 {
		return time.Minute
	}
	return t
}
