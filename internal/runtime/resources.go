package runtime

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Resources limits what one container may use. The zero value leaves the runtime's
// defaults (every CPU, no memory limit).
type Resources struct {
	// CPUs is a cpuset list ("0", "1-3", "0,2") the container's processes may run on.
	CPUs string `json:"cpus,omitempty"`
	// MemoryBytes is the most memory the container may use; 0 means no limit.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// IsZero tells that no limit is asked for.
func (r Resources) IsZero() bool { return r.CPUs == "" && r.MemoryBytes == 0 }

func (r Resources) String() string {
	var parts []string
	if r.CPUs != "" {
		parts = append(parts, "cpus "+r.CPUs)
	}
	if r.MemoryBytes > 0 {
		parts = append(parts, fmt.Sprintf("memory %d MiB", r.MemoryBytes>>20))
	}
	if len(parts) == 0 {
		return "no limits"
	}
	return strings.Join(parts, ", ")
}

// ResourceLimiter is implemented by drivers that apply Spec.Resources. A driver without
// it gets every spec with limits refused (see New), so that no limit is silently ignored.
type ResourceLimiter interface {
	// CanLimit tells why r cannot be applied by this driver, or nil when it can.
	CanLimit(r Resources) error
}

// MinMemoryBytes is the smallest memory limit accepted: below it no runtime starts.
const MinMemoryBytes = 16 << 20

// ParseCPUList reads a cpuset list ("0-2,5") into sorted, distinct CPU numbers.
func ParseCPUList(s string) ([]int, error) {
	seen := map[int]bool{}
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpu list %q: %q is not a CPU number or range like 0-3", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("cpu list %q: %q is not a range like 0-3", s, part)
			}
		}
		if b-a > 4096 {
			return nil, fmt.Errorf("cpu list %q: range %q is too long", s, part)
		}
		for c := a; c <= b; c++ {
			seen[c] = true
		}
	}
	var cpus []int
	for c := range seen {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	return cpus, nil
}

// CheckResources tells whether this host can give a container r: every CPU must be one
// isobench may run on, and the memory limit must fit the host's memory. It is called
// before anything is started, so that an impossible limit is refused, not half applied.
func CheckResources(r Resources) error {
	if r.CPUs != "" {
		cpus, err := ParseCPUList(r.CPUs)
		if err != nil {
			return err
		}
		var allowed unix.CPUSet
		if err := unix.SchedGetaffinity(0, &allowed); err != nil {
			return fmt.Errorf("reading the CPUs isobench may use: %w", err)
		}
		for _, c := range cpus {
			if c >= 1024 || !allowed.IsSet(c) {
				return fmt.Errorf("cpu list %q names CPU %d, which this host does not offer (usable: %s)", r.CPUs, c, cpuSetString(&allowed))
			}
		}
	}
	if r.MemoryBytes < 0 {
		return fmt.Errorf("memory limit %d is negative", r.MemoryBytes)
	}
	if r.MemoryBytes > 0 {
		if r.MemoryBytes < MinMemoryBytes {
			return fmt.Errorf("memory limit %d bytes is below the smallest usable one (%d MiB)", r.MemoryBytes, MinMemoryBytes>>20)
		}
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return fmt.Errorf("reading the host's memory: %w", err)
		}
		if total := int64(si.Totalram) * int64(si.Unit); r.MemoryBytes > total {
			return fmt.Errorf("memory limit %d MiB exceeds the host's %d MiB", r.MemoryBytes>>20, total>>20)
		}
	}
	return nil
}

func cpuSetString(s *unix.CPUSet) string {
	var cpus []string
	for c := 0; c < 1024; c++ {
		if s.IsSet(c) {
			cpus = append(cpus, strconv.Itoa(c))
		}
	}
	return strings.Join(cpus, ",")
}

// CPUSet returns the affinity mask of a cpuset list.
func CPUSet(list string) (unix.CPUSet, error) {
	var set unix.CPUSet
	cpus, err := ParseCPUList(list)
	if err != nil {
		return set, err
	}
	for _, c := range cpus {
		set.Set(c)
	}
	return set, nil
}

// ErrCannotLimit is wrapped by every refusal of Spec.Resources.
var ErrCannotLimit = errors.New("cannot apply the resource limits")

// limitGuard refuses specs with resource limits that its driver cannot apply.
type limitGuard struct {
	Driver
}

func (g limitGuard) New(ctx context.Context, s Spec) (Container, error) {
	if !s.Resources.IsZero() {
		if err := CheckResources(s.Resources); err != nil {
			return nil, fmt.Errorf("container %s: %w: %w", s.ID, ErrCannotLimit, err)
		}
		l, ok := g.Driver.(ResourceLimiter)
		if !ok {
			return nil, fmt.Errorf("container %s: %w: runtime %s (driver %s) does not support CPU sets or memory limits",
				s.ID, ErrCannotLimit, g.Profile().Name, g.Profile().Driver)
		}
		if err := l.CanLimit(s.Resources); err != nil {
			return nil, fmt.Errorf("container %s: %w (%s) on runtime %s: %w", s.ID, ErrCannotLimit, s.Resources, g.Profile().Name, err)
		}
	}
	return g.Driver.New(ctx, s)
}

// CanLimit reports what the wrapped driver can apply.
func (g limitGuard) CanLimit(r Resources) error {
	l, ok := g.Driver.(ResourceLimiter)
	if !ok {
		return fmt.Errorf("runtime %s (driver %s) does not support CPU sets or memory limits", g.Profile().Name, g.Profile().Driver)
	}
	return l.CanLimit(r)
}

// Unwrap returns the driver itself.
func (g limitGuard) Unwrap() Driver { return g.Driver }

// CanLimit tells whether driver d can give its containers r on this host, for checks made
// before any container starts.
func CanLimit(d Driver, r Resources) error {
	if r.IsZero() {
		return nil
	}
	if err := CheckResources(r); err != nil {
		return err
	}
	l, ok := d.(ResourceLimiter)
	if !ok {
		return fmt.Errorf("runtime %s (driver %s) does not support CPU sets or memory limits", d.Profile().Name, d.Profile().Driver)
	}
	return l.CanLimit(r)
}

// StartPinned starts cmd with its CPU affinity set to cpus (all CPUs when empty). The
// child is forked from a thread that holds that affinity, so it never runs elsewhere,
// not even before exec.
func StartPinned(cmd *exec.Cmd, cpus string) error {
	if cpus == "" {
		return cmd.Start()
	}
	set, err := CPUSet(cpus)
	if err != nil {
		return err
	}
	goruntime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("reading this thread's CPU affinity: %w", err)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("pinning to CPUs %s: %w", cpus, err)
	}
	startErr := cmd.Start()
	if err := unix.SchedSetaffinity(0, &old); err != nil {
		// The thread stays locked, so the Go runtime ends it with this goroutine instead
		// of running other goroutines on the pinned CPUs.
		return errors.Join(startErr, fmt.Errorf("restoring this thread's CPU affinity: %w", err))
	}
	goruntime.UnlockOSThread()
	return startErr
}
