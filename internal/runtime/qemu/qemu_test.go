package qemu

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/image/imagetest"
	hostprocs "github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/guestassets"
)

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
	agentDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if agentDir != "" {
		os.RemoveAll(agentDir)
	}
	os.Exit(code)
}

// buildAgent compiles the guest agent statically, as the isobench binary must be.
func buildAgent(t *testing.T) string {
	agentOnce.Do(func() {
		agentDir, agentErr = os.MkdirTemp("", "isobench-agent-")
		if agentErr != nil {
			return
		}
		agentPath = filepath.Join(agentDir, "isobench-agent")
		cmd := exec.Command("go", "build", "-o", agentPath, "github.com/isobench/isobench/internal/agent/cmd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = fmt.Errorf("building agent: %v: %s", err, out)
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentPath
}

// newDriver makes a prepared driver on the busybox test image, with its assets in a
// temporary home.
func newDriver(t *testing.T, opts map[string]string) *Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (tap devices, image store)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed (apt-get install qemu-system-x86)")
	}
	if _, err := guestassets.FindKernel(guestassets.DefaultKernelGlob); err != nil {
		t.Skip(err.Error())
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 not installed (apt-get install e2fsprogs)")
	}
	img := imagetest.Busybox(t)
	o := map[string]string{"memory": "256M", "cpus": "2", "agent": buildAgent(t)}
	for k, v := range opts {
		o[k] = v
	}
	p := runtime.Profile{Name: DriverName, Driver: DriverName, Binary: "qemu-system-x86_64", Options: o}
	drv, err := New(p, runtime.Env{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	d := drv.(*Driver)
	st := d.Check(context.Background())
	if !st.Usable {
		t.Fatalf("driver not usable: %s", st.Problem)
	}
	t.Logf("qemu %s, accel %s (kvm: %s), emulated=%v", st.Version, st.Options["accel"], st.Options["kvm"], st.Emulated)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.Prepare(ctx, img); err != nil {
		t.Fatal(err)
	}
	return d
}

// checkGone fails when anything of container id is left on the host.
func checkGone(t *testing.T, d *Driver, id string, tap string) {
	t.Helper()
	pids, err := hostprocs.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if args := strings.Join(hostprocs.Cmdline(pid), " "); strings.Contains(args, id) {
			t.Errorf("process %d still runs for %s: %q", pid, id, args)
		}
	}
	if tap != "" {
		if _, err := netlink.LinkByName(tap); err == nil {
			t.Errorf("tap %s left behind", tap)
		}
	}
	if _, err := os.Stat(filepath.Join(d.home(), "run", id)); err == nil {
		t.Errorf("state directory of %s left behind", id)
	}
}

type result struct {
	code   int
	err    error
	stdout string
	stderr string
	phases []runtime.Phase
	memErr error
	memOvh int64
}

// run takes one container through its lifecycle; during the run it samples the VMM's
// memory overhead once the workload started.
func run(t *testing.T, d *Driver, spec runtime.Spec, during func(c runtime.Container)) result {
	t.Helper()
	var stdout, stderr bench.FirstByteBuffer
	spec.Stdout, spec.Stderr = &stdout, &stderr
	if spec.RawDir == "" {
		spec.RawDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := d.New(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	tap := ""
	if cc := c.(*container); cc.Tap != nil {
		tap = cc.Tap.Name
	}
	defer checkGone(t, d, spec.ID, tap)
	defer func() {
		if err := c.Delete(context.Background()); err != nil {
			t.Errorf("delete: %v", err)
		}
		if err := runtime.Remove(context.Background(), c); err != nil {
			t.Errorf("release: %v", err)
		}
	}()
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	procs, err := c.Processes(ctx)
	if err != nil || len(procs) != 1 || procs[0].Role != "vmm" {
		t.Errorf("Processes = %v, %v; want the qemu process as vmm", procs, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if during != nil {
		during(c)
	}
	var r result
	r.code, r.err = c.Wait(ctx)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	r.phases = c.(runtime.PhaseReporter).Phases()
	if r.err != nil {
		log, _ := os.ReadFile(filepath.Join(spec.RawDir, "console.log"))
		t.Logf("console.log:\n%s", log)
	}
	return r
}

func phaseMap(t *testing.T, phases []runtime.Phase) map[string]time.Duration {
	m := map[string]time.Duration{}
	for _, p := range phases {
		m[p.Name] = p.Since
	}
	return m
}

func TestBootRunsWorkloadAndReportsPhases(t *testing.T) {
	d := newDriver(t, nil)
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("from-the-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `echo hello; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo "loop $i";
cat /data/secret.txt; echo x > /scratch/f && echo "tmpfs $(stat -f -c %T /scratch)";
/.isobench/isobench; echo "probe exit $?"; echo oops >&2; sleep 1; exit 3`
	spec := runtime.Spec{
		ID:   runtime.NamePrefix + "qemu-test-boot",
		Args: []string{"sh", "-c", script},
		Mounts: []runtime.Mount{
			{Type: "bind", Source: d.agent, Destination: "/.isobench/isobench", ReadOnly: true},
			{Type: "bind", Source: secret, Destination: "/data/secret.txt", ReadOnly: true},
			{Type: "tmpfs", Destination: "/scratch", SizeBytes: 1 << 20},
		},
	}
	r := run(t, d, spec, func(c runtime.Container) {
		// Sample memory while the workload sleeps at its end.
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if _, ok := phaseMap(t, c.(runtime.PhaseReporter).Phases())[runtime.PhaseWorkloadStarted]; ok {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		ovh, err := c.(*container).MemoryOverheadBytes()
		if err != nil {
			t.Errorf("MemoryOverheadBytes: %v", err)
			return
		}
		t.Logf("VMM memory overhead (PSS minus guest RAM): %.1f MiB", float64(ovh)/(1<<20))
		if ovh <= 0 || ovh > 1<<30 {
			t.Errorf("VMM overhead %d bytes is implausible", ovh)
		}
	})
	if r.err != nil {
		t.Fatalf("wait: %v", r.err)
	}
	if r.code != 3 {
		t.Errorf("exit code %d, want 3", r.code)
	}
	for _, want := range []string{"hello\n", "loop 20000\n", "from-the-host\n", "tmpfs tmpfs\n", "probe exit 2\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "oops") || !strings.Contains(r.stderr, "runs only as PID 1") {
		t.Errorf("stderr = %q, want the workload's and the probe's messages", r.stderr)
	}
	pm := phaseMap(t, r.phases)
	// vmm_started (QMP's answer to cont) may arrive after the guest's first byte, so
	// it is only required, not ordered.
	if at, ok := pm[runtime.PhaseVMMStarted]; !ok || at < 0 {
		t.Errorf("phase %s missing or negative: %v", runtime.PhaseVMMStarted, r.phases)
	}
	order := []string{runtime.PhaseKernelStart, runtime.PhaseInitReached, runtime.PhaseWorkloadStarted, runtime.PhaseWorkloadExit}
	var prev time.Duration
	for _, name := range order {
		at, ok := pm[name]
		if !ok {
			t.Errorf("phase %s missing: %v", name, r.phases)
			continue
		}
		if at < prev {
			t.Errorf("phase %s at %v comes before the previous phase at %v", name, at, prev)
		}
		prev = at
	}
	t.Logf("phases: %v", r.phases)
}

func TestNetworkReachesHost(t *testing.T) {
	d := newDriver(t, nil)
	spec := runtime.Spec{ID: runtime.NamePrefix + "qemu-test-net", Network: true}
	// The guest's address is known only after New, so the command is filled in then.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout bench.FirstByteBuffer
	spec.Stdout, spec.Args = &stdout, []string{"true"}
	probe, err := d.New(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	ni := probe.Network()
	if err := runtime.Remove(ctx, probe); err != nil {
		t.Fatal(err)
	}
	if ni.Stack != "virtio-net-tap" || !strings.HasPrefix(ni.ContainerIP, "198.1") || !strings.HasPrefix(ni.HostIP, "198.1") {
		t.Fatalf("Network() = %+v", ni)
	}

	// New again (the same /30 comes back because the first was freed), with a command
	// that talks to a server on the host side of the tap.
	spec.Args = []string{"sh", "-c", "sleep 0.2; ping -c 2 -W 5 " + ni.HostIP + " >/dev/null && echo ping-ok; " +
		"for i in 1 2 3 4 5; do echo ping | nc -w 5 " + ni.HostIP + " 7777 && break; sleep 0.5; done"}
	c, err := d.New(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	tap := c.(*container).Tap.Name
	defer checkGone(t, d, spec.ID, tap)
	defer runtime.Remove(context.Background(), c)
	if got := c.Network(); got != ni {
		t.Fatalf("second VM got %+v, first had %+v", got, ni)
	}
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	// The tap carries the host address once it exists; the server listens there only.
	ln, err := net.Listen("tcp", net.JoinHostPort(ni.HostIP, "7777"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- "accept: " + err.Error()
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		line, _ := bufio.NewReader(conn).ReadString('\n')
		fmt.Fprintf(conn, "pong to %s\n", conn.RemoteAddr().(*net.TCPAddr).IP)
		served <- strings.TrimSpace(line)
	}()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	code, err := c.Wait(ctx)
	if err != nil || code != 0 {
		t.Fatalf("wait: %d, %v", code, err)
	}
	select {
	case got := <-served:
		if got != "ping" {
			t.Errorf("server got %q, want ping", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("the guest never connected to the host-side server")
	}
	out := stdout.String()
	if !strings.Contains(out, "ping-ok") || !strings.Contains(out, "pong to "+ni.ContainerIP) {
		t.Errorf("guest output %q lacks ping-ok and the pong from the host", out)
	}
	if err := c.Delete(ctx); err != nil {
		t.Error(err)
	}
}

func TestGuestThatNeverReachesInitTimesOut(t *testing.T) {
	// A boot timeout far below any real boot stands for a guest that hangs.
	d := newDriver(t, map[string]string{"boot_timeout": "50ms"})
	raw := t.TempDir()
	spec := runtime.Spec{ID: runtime.NamePrefix + "qemu-test-hang", Args: []string{"true"}, RawDir: raw}
	start := time.Now()
	r := run(t, d, spec, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "did not reach init") {
		t.Fatalf("wait = %d, %v; want a boot timeout", r.code, r.err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("timeout took %s", time.Since(start))
	}
	if _, err := os.Stat(filepath.Join(raw, "console.log")); err != nil {
		t.Errorf("console log not kept: %v", err)
	}
}

func TestMissingCommandIsReported(t *testing.T) {
	d := newDriver(t, nil)
	spec := runtime.Spec{ID: runtime.NamePrefix + "qemu-test-missing", Args: []string{"no-such-program"}}
	r := run(t, d, spec, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "no-such-program: not found") {
		t.Fatalf("wait = %d, %v; want the agent's not-found failure", r.code, r.err)
	}
}

// TestGuestClockIsFine: the guest times its benchmarks with a nanosecond clocksource. Under
// TCG the kernel would otherwise fall back to refined-jiffies (4 ms steps), and fio would
// report 0 us latencies.
func TestGuestClockIsFine(t *testing.T) {
	d := newDriver(t, nil)
	spec := runtime.Spec{ID: runtime.NamePrefix + "qemu-test-clock",
		Args: []string{"cat", "/sys/devices/system/clocksource/clocksource0/current_clocksource"}}
	r := run(t, d, spec, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("wait = %d, %v", r.code, r.err)
	}
	src := strings.TrimSpace(r.stdout)
	if src == "" || strings.Contains(src, "jiffies") {
		t.Errorf("guest clocksource %q; want tsc or kvm-clock", src)
	}
	t.Logf("guest clocksource: %s (accel %s)", src, d.accel)
}

// TestKernelPanicEndsTheTrial: a guest kernel that panics mid-workload ends the wait with
// an error naming it, the console is kept, and nothing of the VM is left.
func TestKernelPanicEndsTheTrial(t *testing.T) {
	d := newDriver(t, nil)
	raw := t.TempDir()
	spec := runtime.Spec{ID: runtime.NamePrefix + "qemu-test-panic", RawDir: raw,
		Args: []string{"sh", "-c", "echo before; echo c > /proc/sysrq-trigger; sleep 30; echo after"}}
	start := time.Now()
	r := run(t, d, spec, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "kernel panic") {
		t.Fatalf("wait = %d, %v; want the VM's stop reported as a panic or crash", r.code, r.err)
	}
	if strings.Contains(r.stdout, "after") || time.Since(start) > 25*time.Second {
		t.Errorf("the workload went on after the panic (%s): %q", time.Since(start), r.stdout)
	}
	log, err := os.ReadFile(filepath.Join(raw, "console.log"))
	if err != nil || !bytes.Contains(log, []byte("Kernel panic")) {
		t.Errorf("console log lacks the panic: %v\n%s", err, log)
	}
}
