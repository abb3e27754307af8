// Package agent is the guest side of isobench's microVMs: the isobench binary runs as
// PID 1 from the initramfs, mounts the image's root disk, runs the workload in it and
// reports over the serial console with the line protocol of package vm, then powers off.
package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime/vmm/guestproto"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Main runs the agent and never returns when it runs as PID 1 (it powers the VM off).
// Outside a VM it refuses to run and returns exit status 2.
func Main() int {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "isobench agent: runs only as PID 1 inside an isobench VM")
		return 2
	}
	a := &agent{console: os.Stdout}
	// Report first, before any work, so the host sees when init was reached.
	a.emit(guestproto.Event{Kind: guestproto.EventInit, Value: boottimeNanos()})
	code, err := a.run()
	if err != nil {
		a.emit(guestproto.Event{Kind: guestproto.EventFail, Data: []byte(err.Error())})
	} else {
		a.emit(guestproto.Event{Kind: guestproto.EventExit, Value: int64(code)})
	}
	unix.Sync()
	// Unmount the root disk so the filesystem is clean; the host discards it anyway.
	_ = unix.Unmount(guestproto.NewRootPath, unix.MNT_DETACH)
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Reboot only returns on failure; exiting PID 1 panics the kernel, which with
	// panic=-1 and -no-reboot ends the VM too.
	return 1
}

type agent struct {
	mu      sync.Mutex
	console io.Writer
}

func (a *agent) emit(e guestproto.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = io.WriteString(a.console, guestproto.FormatEvent(e))
}

func boottimeNanos() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return -1
	}
	return ts.Nano()
}

func (a *agent) run() (int, error) {
	for _, m := range []struct{ src, dst, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"}, {"tmpfs", "/tmp", "tmpfs"},
	} {
		if err := mount(m.src, m.dst, m.fstype, 0, ""); err != nil {
			return 0, err
		}
	}
	// Only emergencies on the console from now on, so kernel messages do not split
	// protocol lines.
	_ = os.WriteFile("/proc/sys/kernel/printk", []byte("1"), 0)
	spec, err := readSpec()
	if err != nil {
		return 0, err
	}
	if err := loadModules(guestproto.ModulesDir); err != nil {
		return 0, err
	}
	if err := waitForFile(spec.RootDevice, 10*time.Second); err != nil {
		return 0, err
	}
	if err := mount(spec.RootDevice, guestproto.NewRootPath, spec.RootFSType, 0, ""); err != nil {
		return 0, err
	}
	if err := setupRoot(guestproto.NewRootPath, spec.Mounts); err != nil {
		return 0, err
	}
	if err := setupNetwork(spec.Net); err != nil {
		return 0, err
	}
	return a.runWorkload(spec)
}

func readSpec() (guestproto.GuestSpec, error) {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return guestproto.GuestSpec{}, fmt.Errorf("reading kernel command line: %w", err)
	}
	if enc, ok := guestproto.SpecFromCmdline(string(cmdline)); ok {
		return guestproto.DecodeSpec(enc)
	}
	enc, err := os.ReadFile(guestproto.SpecFile)
	if err != nil {
		return guestproto.GuestSpec{}, fmt.Errorf("no %s= on the kernel command line and no %s: %w", guestproto.CmdlineSpecKey, guestproto.SpecFile, err)
	}
	return guestproto.DecodeSpec(strings.TrimSpace(string(enc)))
}

func mount(src, dst, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("creating mount point %s: %w", dst, err)
	}
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		return fmt.Errorf("mounting %s (%s) on %s: %w", src, fstype, dst, err)
	}
	return nil
}

// loadModules loads every module file in dir in name order (the host numbered them in
// dependency order). Modules built into the kernel or already loaded are fine.
func loadModules(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing modules: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("opening module %s: %w", n, err)
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("loading module %s: %w", n, err)
		}
	}
	return nil
}

// waitForFile waits for a device node that a driver probes asynchronously.
func waitForFile(path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func setupRoot(root string, mounts []guestproto.GuestMount) error {
	for _, m := range []struct{ src, dst, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
		{"devpts", "/dev/pts", "devpts"}, {"tmpfs", "/dev/shm", "tmpfs"}, {"tmpfs", "/tmp", "tmpfs"},
	} {
		if err := mount(m.src, filepath.Join(root, m.dst), m.fstype, 0, ""); err != nil {
			return err
		}
	}
	for _, m := range mounts {
		dst := filepath.Join(root, m.Destination)
		switch m.Type {
		case "tmpfs":
			data := ""
			if m.SizeBytes > 0 {
				data = "size=" + strconv.FormatInt(m.SizeBytes, 10)
			}
			if err := mount("tmpfs", dst, "tmpfs", 0, data); err != nil {
				return err
			}
		case "bind":
			if err := bindMount(m.Source, dst, m.ReadOnly); err != nil {
				return err
			}
		default:
			return fmt.Errorf("mount %s: unknown type %q", m.Destination, m.Type)
		}
	}
	return nil
}

func bindMount(src, dst string, readOnly bool) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	// The mount point must be of the same kind as the source.
	if st.IsDir() {
		err = os.MkdirAll(dst, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
		var f *os.File
		if f, err = os.OpenFile(dst, os.O_CREATE|os.O_RDONLY, 0o755); err == nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("creating mount point %s: %w", dst, err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s on %s: %w", src, dst, err)
	}
	if readOnly {
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", dst, err)
		}
	}
	return nil
}

func setupNetwork(n *guestproto.GuestNet) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bringing up loopback: %w", err)
	}
	if n == nil {
		return nil
	}
	var link netlink.Link
	deadline := time.Now().Add(5 * time.Second)
	for {
		if link, err = netlink.LinkByName(n.Interface); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("network interface %s did not appear: %w", n.Interface, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	addr, err := netlink.ParseAddr(n.Address)
	if err != nil {
		return fmt.Errorf("guest address %q: %w", n.Address, err)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("addressing %s: %w", n.Interface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing up %s: %w", n.Interface, err)
	}
	if n.Gateway != "" {
		gw := net.ParseIP(n.Gateway)
		if gw == nil {
			return fmt.Errorf("gateway %q is not an address", n.Gateway)
		}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}); err != nil {
			return fmt.Errorf("adding default route via %s: %w", n.Gateway, err)
		}
	}
	return nil
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// resolve finds argv[0] inside root the way execvp would after the chroot.
func resolve(root, arg0 string, env []string) (string, error) {
	if strings.Contains(arg0, "/") {
		return arg0, nil
	}
	path := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, arg0)
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s of the image", arg0, path)
}

func (a *agent) runWorkload(spec guestproto.GuestSpec) (int, error) {
	if len(spec.Args) == 0 {
		return 0, errors.New("no workload command given")
	}
	env := spec.Env
	if len(env) == 0 {
		env = []string{"PATH=" + defaultPath}
	}
	path, err := resolve(guestproto.NewRootPath, spec.Args[0], env)
	if err != nil {
		return 0, err
	}
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        spec.Args,
		Env:         env,
		Dir:         cwd,
		SysProcAttr: &syscall.SysProcAttr{Chroot: guestproto.NewRootPath, Setsid: true},
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("workload stdout: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, fmt.Errorf("workload stderr: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", path, err)
	}
	a.emit(guestproto.Event{Kind: guestproto.EventStarted, Value: boottimeNanos()})
	var wg sync.WaitGroup
	wg.Add(2)
	go a.forward(&wg, stdout, guestproto.EventStdout)
	go a.forward(&wg, stderr, guestproto.EventStderr)
	wg.Wait()
	err = cmd.Wait()
	if code, ok := procs.ExitStatus(err); ok {
		return code, nil
	}
	return 0, fmt.Errorf("waiting for workload: %w", err)
}

// forward sends a pipe's content as protocol lines; chunks stay small so a line never
// grows past what the console path handles comfortably.
func (a *agent) forward(wg *sync.WaitGroup, r io.Reader, kind string) {
	defer wg.Done()
	buf := make([]byte, 3072)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			a.emit(guestproto.Event{Kind: kind, Data: append([]byte(nil), buf[:n]...)})
		}
		if err != nil {
			return
		}
	}
}
