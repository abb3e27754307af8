// Package kvmprobe tells whether KVM can run an ordinary guest on this host, by booting one.
package kvmprobe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/runtime"
)

// Verdict is what the KVM probe found.
type Verdict struct {
	Usable bool   `json:"usable"`
	Reason string `json:"reason"`
	// BootTime is how long the probe guest took from launch to its kernel panic.
	BootTime time.Duration `json:"boot_time"`
	Checked  time.Time     `json:"checked"`
	Key      string        `json:"key"`
}

// Timeout bounds the probe boot; a kernel under working KVM reaches its panic in
// well under a second.
const Timeout = 5 * time.Second

// kvmCacheTTL keeps a verdict for a while: the probe costs seconds and KVM does not
// change under a running benchmark.
const kvmCacheTTL = 5 * time.Minute

var kvmCacheFile = runtime.HostStateDir + "/kvm-probe.json"

// Probe tells whether KVM can run an ordinary guest here. Opening /dev/kvm is not
// enough: some hosts (nested PVM) accept the ioctls and then hang every normal kernel.
// So the probe boots kernel without a root filesystem under qemu with -accel kvm and
// waits, under Timeout, for it to print its banner and panic (panic=-1 and
// -no-reboot turn the panic into a qemu exit). machine is the -M value to probe with.
func Probe(ctx context.Context, qemu, kernel, machine string) Verdict {
	key := qemu + "|" + kernel + "|" + machine
	if v, ok := cachedVerdict(key); ok {
		return v
	}
	v := probeKVM(ctx, qemu, kernel, machine)
	v.Checked, v.Key = time.Now(), key
	if ctx.Err() == nil {
		saveVerdict(v)
	}
	return v
}

func probeKVM(ctx context.Context, qemu, kernel, machine string) Verdict {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return Verdict{Reason: fmt.Sprintf("cannot open /dev/kvm: %v", err)}
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var console, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, qemu,
		"-M", machine, "-accel", "kvm", "-cpu", "host", "-m", "128M", "-smp", "1",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1 loglevel=6")
	cmd.Stdout, cmd.Stderr = &console, &stderr
	cmd.WaitDelay = time.Second
	t0 := time.Now()
	err = cmd.Run()
	elapsed := time.Since(t0)
	out := console.String()
	switch {
	case ctx.Err() != nil:
		return Verdict{Reason: fmt.Sprintf("a guest kernel under KVM did not finish booting within %s (last console line: %q); this KVM cannot run ordinary guests (nested or PVM-only host?)",
			Timeout, lastLine(out))}
	case strings.Contains(out, "Linux version") && strings.Contains(out, "Kernel panic"):
		return Verdict{Usable: true, Reason: "guest kernel booted under KVM", BootTime: elapsed}
	case err != nil:
		return Verdict{Reason: fmt.Sprintf("qemu with -accel kvm failed: %v: %s", err, lastLine(stderr.String()))}
	default:
		return Verdict{Reason: fmt.Sprintf("a guest kernel under KVM stopped without reaching its panic (last console line: %q)", lastLine(out))}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(s, "\r", "")), "\n")
	return lines[len(lines)-1]
}

func cachedVerdict(key string) (Verdict, bool) {
	var v Verdict
	raw, err := os.ReadFile(kvmCacheFile)
	if err != nil || json.Unmarshal(raw, &v) != nil {
		return v, false
	}
	if v.Key != key || time.Since(v.Checked) > kvmCacheTTL || time.Since(v.Checked) < 0 {
		return v, false
	}
	return v, true
}

func saveVerdict(v Verdict) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	// A lost cache only costs another probe, so errors are ignored.
	if os.MkdirAll(runtime.HostStateDir, 0o755) == nil {
		tmp := kvmCacheFile + fmt.Sprintf(".%d", os.Getpid())
		if os.WriteFile(tmp, raw, 0o644) == nil {
			_ = os.Rename(tmp, kvmCacheFile)
		}
	}
}
