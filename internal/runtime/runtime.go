// Package runtime defines the driver interface every isolation runtime implements:
// a plain process, OCI runtimes, engines and microVMs all run the same image
// through the same lifecycle (prepare, create, start, wait, delete).
package runtime

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/isobench/isobench/internal/filehash"
	"github.com/isobench/isobench/internal/image"
)

// NamePrefix starts the name of everything isobench creates on a host (containers,
// bundles, namespaces, engine objects), so `isobench cleanup` finds leftovers and nothing else.
const NamePrefix = "isobench-"

// LinkPrefix starts the name of network links isobench creates (link names are limited to 15 bytes).
const LinkPrefix = "isb"

// HostStateDir holds host-wide state shared by isobench processes (locks, probe verdicts).
const HostStateDir = "/run/isobench"

// Class groups runtimes in reports.
type Class string

const (
	ClassProcess   Class = "process"
	ClassContainer Class = "container"
	ClassSandbox   Class = "sandbox"
	ClassVM        Class = "vm"
)

// Driver runs containers of one runtime profile.
type Driver interface {
	// Profile is the profile the driver was made from.
	Profile() Profile
	// Check finds the runtime's binary and tells whether it can run here; it never hangs.
	Check(ctx context.Context) Status
	// Prepare readies the driver to run containers from img (unpack, load into an engine,
	// build a disk). It is called once per run, outside every timed section.
	Prepare(ctx context.Context, img *image.Image) error
	// New prepares one container (bundle, writable layer, network) without calling the
	// runtime's create. The returned container must be deleted by the caller.
	New(ctx context.Context, spec Spec) (Container, error)
	// Close removes everything Prepare made, also after a Prepare that failed half-way.
	Close(ctx context.Context) error
}

// Container is one container (or sandbox, or VM) of a driver. Each lifecycle
// method returns when that step is done, so the caller can time it.
type Container interface {
	ID() string
	// Create calls the runtime's create: the container exists but the workload has not started.
	Create(ctx context.Context) error
	// Start starts the workload and returns as soon as the runtime says it started.
	Start(ctx context.Context) error
	// Wait blocks until the workload exits and returns its exit code.
	Wait(ctx context.Context) (int, error)
	// Delete removes the container and everything New made for it, or, for a Releaser,
	// only the runtime's container. It is safe to call in any state, more than once, and
	// must succeed even after ctx was cancelled. Code that does not time Delete calls
	// runtime.Remove, which also releases.
	Delete(ctx context.Context) error
	// Processes lists the host processes that belong to the container (workload, shim,
	// sandbox, gofer, VMM), for memory attribution.
	Processes(ctx context.Context) ([]Process, error)
	// Network tells how the host reaches the container; zero when Spec.Network was false.
	// HostIP and Stack are known once New returned; some drivers (engines) learn
	// ContainerIP only when the container starts, and return it empty until then.
	Network() NetworkInfo
}

// PhaseReporter is implemented by containers that know finer start-up phases than the
// lifecycle calls show (a VM's kernel start and init reached, for example).
type PhaseReporter interface {
	Phases() []Phase
}

// StepReporter is implemented by containers that lack a runtime create or delete step (a
// plain process): those durations are then not reported, since they time nothing and a
// ratio to them would mean nothing.
type StepReporter interface {
	RuntimeSteps() (create, delete bool)
}

// Phase is a named point in a container's start-up, measured from the start of Start.
type Phase struct {
	Name  string
	Since time.Duration
}

// Phase names microVM containers report, measured from the start call, in boot order.
const (
	PhaseVMMStarted      = "vmm_started"      // the VMM said the vCPUs run (the guest may have printed already)
	PhaseKernelStart     = "kernel_start"     // first console byte: the kernel's setup code
	PhaseInitReached     = "init_reached"     // the agent runs as PID 1
	PhaseWorkloadStarted = "workload_started" // the agent started the workload
	PhaseWorkloadExit    = "workload_exit"    // the agent reported the workload's exit
)

// VMPhases are the phases a microVM container reports, in boot order.
var VMPhases = []string{PhaseVMMStarted, PhaseKernelStart, PhaseInitReached, PhaseWorkloadStarted, PhaseWorkloadExit}

// Process is a host process that belongs to a container.
type Process struct {
	PID  int
	Role string // workload, shim, sandbox, gofer, vmm, ...
}

// NetworkInfo tells how the host and the container reach each other.
type NetworkInfo struct {
	// ContainerIP is the address the host connects to.
	ContainerIP string
	// HostIP is the address the container connects to for host-side servers.
	HostIP string
	// Stack names the network stack that served the container: "host-loopback",
	// "linux-veth", "gvisor-netstack", "docker-bridge", "virtio-net-tap", ...
	Stack string
}

// Spec describes one container to run.
type Spec struct {
	// ID is unique on the host and starts with NamePrefix.
	ID   string
	Args []string
	Env  []string
	Cwd  string
	// Stdout and Stderr receive the workload's output; nil discards it.
	Stdout io.Writer
	Stderr io.Writer
	// Mounts are added on top of the image's root filesystem.
	Mounts []Mount
	// Network gives the container its own network reachable from the host; otherwise
	// the container has no network but loopback (host: the host's).
	Network bool
	// RawDir is where the driver may keep its own logs for this container.
	RawDir string
	// Resources limits the container's CPUs and memory. A driver that cannot apply a
	// limit refuses the spec (see ResourceLimiter); none ignores it.
	Resources Resources
}

// Mount is a bind mount of a host path or a tmpfs.
type Mount struct {
	// Type is "bind" or "tmpfs".
	Type        string
	Source      string // host path for bind
	Destination string
	ReadOnly    bool
	// SizeBytes limits a tmpfs; 0 leaves the default.
	SizeBytes int64
}

// Status is what Check found.
type Status struct {
	Found   bool
	Usable  bool
	Binary  string
	SHA256  string
	Version string
	Class   Class
	// Emulated marks results that are not comparable (a VM under TCG).
	Emulated bool
	// Options are facts to record with every result (gVisor's platform, Kata's hypervisor).
	Options map[string]string
	// Problem says what is wrong when not usable; Fix says exactly what to do about it.
	Problem string
	Fix     string
}

// Releaser is implemented by containers whose Delete removes only the runtime's
// container and leaves isobench's own state (bundle, writable layer, network) to
// Release, so that a timed delete holds only the runtime's work. Release deletes the
// container first if Delete was not called, and is safe to call more than once.
type Releaser interface {
	Release(ctx context.Context) error
}

// Remove deletes a container and releases everything made for it.
func Remove(ctx context.Context, c Container) error {
	if r, ok := c.(Releaser); ok {
		return r.Release(ctx)
	}
	return c.Delete(ctx)
}

// Hash puts the SHA-256 of the file at path into *sum for the results. A file that cannot
// be hashed leaves st with the Problem and returns false: results must name exactly what
// ran, so such a runtime is not usable.
func (st *Status) Hash(path string, sum *string) bool {
	h, err := filehash.SHA256(path)
	if err != nil {
		st.Problem = fmt.Sprintf("cannot record what runs: %v", err)
		st.Fix = "make " + path + " a readable regular file (reinstall it)"
		return false
	}
	*sum = h
	return true
}
