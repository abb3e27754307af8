// Package hostinfo reads the facts of the host that skew benchmark results: CPU,
// virtualization, cgroup mode, SMT, frequency governor, load.
package hostinfo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/results"
	"github.com/prometheus/procfs"
)

// Collect reads the host facts.
func Collect(ctx context.Context) results.HostFacts {
	f := results.HostFacts{}
	f.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		f.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:])
	}
	f.OS = osRelease()
	f.CPUModel, f.Virtualized = cpuInfo()
	f.Cores = onlineCPUs()
	f.MemoryBytes = memTotal()
	f.Hypervisor = hypervisor(f.Virtualized)
	f.NestedVirt = nestedVirt()
	f.KVM = kvmState(ctx)
	f.CgroupMode = CgroupMode()
	f.SMT = strings.TrimSpace(readFile("/sys/devices/system/cpu/smt/control"))
	if f.SMT == "" {
		f.SMT = "unknown"
	}
	f.Governor = strings.TrimSpace(readFile("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"))
	f.LoadAvg1 = loadAvg1()
	return f
}

// CgroupMode tells whether the host runs cgroup v1, v2 or both (hybrid).
func CgroupMode() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil {
		return "unknown"
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid"
	}
	return "v1"
}

// UnifiedControllers lists the controllers on the v2 hierarchy of a hybrid host; crun
// refuses to run while there are any.
func UnifiedControllers() string {
	return strings.TrimSpace(readFile("/sys/fs/cgroup/unified/cgroup.controllers"))
}

// KVMProbe tells whether KVM runs ordinary guests. Package kvmprobe replaces it with a
// real boot probe; without it, KVM is not known to work, and unknown counts as unusable:
// some hosts accept /dev/kvm's ioctls and then hang every ordinary guest.
var KVMProbe = func(ctx context.Context) (usable bool, reason string) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return false, "/dev/kvm is missing"
	}
	return false, "/dev/kvm present, but no boot probe ran (KVM may still hang ordinary guests)"
}

var kvmOnce struct {
	sync.Once
	usable bool
	reason string
}

// KVMUsable runs KVMProbe once per process.
func KVMUsable(ctx context.Context) bool {
	kvmOnce.Do(func() { kvmOnce.usable, kvmOnce.reason = KVMProbe(ctx) })
	return kvmOnce.usable
}

func kvmState(ctx context.Context) string {
	KVMUsable(ctx)
	if kvmOnce.usable {
		return "usable: " + kvmOnce.reason
	}
	return "unusable: " + kvmOnce.reason
}

func cpuInfo() (model string, hypervisorFlag bool) {
	cpus, err := cpus()
	if err != nil || len(cpus) == 0 {
		return "", false
	}
	for _, fl := range cpus[0].Flags {
		if fl == "hypervisor" {
			hypervisorFlag = true
		}
	}
	return cpus[0].ModelName, hypervisorFlag
}

// CPUkHz is the first CPU's clock rate from /proc/cpuinfo, 0 when unknown.
func CPUkHz() int {
	cpus, err := cpus()
	if err != nil || len(cpus) == 0 {
		return 0
	}
	return int(cpus[0].CPUMHz * 1000)
}

func cpus() ([]procfs.CPUInfo, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, err
	}
	return fs.CPUInfo()
}

func loadAvg1() float64 {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0
	}
	l, err := fs.LoadAvg()
	if err != nil {
		return 0
	}
	return l.Load1
}

func hypervisor(flag bool) string {
	if !flag {
		return ""
	}
	if v := strings.TrimSpace(readFile("/sys/hypervisor/type")); v != "" {
		return v
	}
	if v := strings.TrimSpace(readFile("/sys/class/dmi/id/sys_vendor")); v != "" {
		return v
	}
	// Minimal VMMs (Firecracker, Cloud Hypervisor) give no DMI; their KVM shows in the
	// guest's clocksources.
	if strings.Contains(readFile("/sys/devices/system/clocksource/clocksource0/available_clocksource"), "kvm-clock") {
		return "KVM"
	}
	return "unknown hypervisor"
}

func nestedVirt() string {
	for _, p := range []string{"/sys/module/kvm_intel/parameters/nested", "/sys/module/kvm_amd/parameters/nested"} {
		if v := strings.TrimSpace(readFile(p)); v != "" {
			return v
		}
	}
	return ""
}

func onlineCPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		return set.Count()
	}
	return 0
}

func memTotal() uint64 {
	v, _ := MemTotal()
	return v
}

// MemAvailable is the host's MemAvailable (/proc/meminfo) in bytes.
func MemAvailable() (uint64, error) {
	m, err := meminfo()
	if err != nil {
		return 0, err
	}
	if m.MemAvailableBytes == nil {
		return 0, errors.New("/proc/meminfo has no MemAvailable")
	}
	return *m.MemAvailableBytes, nil
}

// MemTotal is the host's MemTotal (/proc/meminfo) in bytes.
func MemTotal() (uint64, error) {
	m, err := meminfo()
	if err != nil {
		return 0, err
	}
	if m.MemTotalBytes == nil {
		return 0, errors.New("/proc/meminfo has no MemTotal")
	}
	return *m.MemTotalBytes, nil
}

func meminfo() (procfs.Meminfo, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return procfs.Meminfo{}, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	m, err := fs.Meminfo()
	if err != nil {
		return procfs.Meminfo{}, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	return m, nil
}

func osRelease() string {
	for _, line := range strings.Split(readFile("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func readFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}
