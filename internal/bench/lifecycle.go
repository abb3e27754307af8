package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/runtime"
)

// Timings are the lifecycle phases of one container, on the monotonic clock.
type Timings struct {
	Create time.Duration
	// Start runs until the runtime's start call returned.
	Start time.Duration
	// StartToOutput runs from the start call until the workload's first output byte.
	StartToOutput time.Duration
	StartToExit   time.Duration
	Delete        time.Duration
	// Total runs from the create call until delete returned.
	Total time.Duration
	// Phases are finer phases a driver reports (VM boot), measured from the start call.
	Phases []runtime.Phase
	// NoCreate and NoDelete say the runtime has no such step (a plain process), so
	// Create or Delete timed nothing.
	NoCreate, NoDelete bool
}

// Outcome is what one container run left.
type Outcome struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
	Timings  Timings
}

// FailedError carries the stderr of a failed container so that the failure record keeps it.
type FailedError struct {
	Err    error
	Stderr string
}

func (e *FailedError) Error() string { return e.Err.Error() }
func (e *FailedError) Unwrap() error { return e.Err }

// StderrOf returns the stderr kept in err, if any.
func StderrOf(err error) string {
	var f *FailedError
	if errors.As(err, &f) {
		return f.Stderr
	}
	return ""
}

// RunToExit runs a container from create to delete, captures its output and times each
// step. The timed sections hold only the driver's calls. A non-zero exit is an error.
func RunToExit(ctx context.Context, d runtime.Driver, spec runtime.Spec) (*Outcome, error) {
	stdout := &FirstByteBuffer{}
	stderr := &FirstByteBuffer{}
	spec.Stdout = teeOrNot(stdout, spec.Stdout)
	spec.Stderr = teeOrNot(stderr, spec.Stderr)
	c, err := d.New(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("preparing container: %w", err)
	}
	out := &Outcome{}
	// Releases what a failed step left. Delete's own error is the one that counts: it is
	// returned below, and a driver without Release may refuse to delete twice.
	defer func() { _ = runtime.Remove(context.WithoutCancel(ctx), c) }()
	fail := func(step string, err error) (*Outcome, error) {
		return out, &FailedError{Err: fmt.Errorf("%s: %w", step, err), Stderr: tail(stderr.Bytes(), 4096)}
	}

	t0 := time.Now()
	if err := c.Create(ctx); err != nil {
		return fail("create", err)
	}
	t1 := time.Now()
	if err := c.Start(ctx); err != nil {
		return fail("start", err)
	}
	ts := time.Now()
	code, err := c.Wait(ctx)
	t2 := time.Now()
	if err != nil {
		return fail("wait", err)
	}
	if pr, ok := c.(runtime.PhaseReporter); ok {
		out.Timings.Phases = pr.Phases()
	}
	if sr, ok := c.(runtime.StepReporter); ok {
		create, del := sr.RuntimeSteps()
		out.Timings.NoCreate, out.Timings.NoDelete = !create, !del
	}
	err = c.Delete(ctx)
	t3 := time.Now()
	if err != nil {
		return fail("delete", err)
	}
	out.Stdout, out.Stderr, out.ExitCode = stdout.Bytes(), stderr.Bytes(), code
	out.Timings.Create = t1.Sub(t0)
	out.Timings.Start = ts.Sub(t1)
	out.Timings.StartToExit = t2.Sub(t1)
	out.Timings.Delete = t3.Sub(t2)
	out.Timings.Total = t3.Sub(t0)
	if first, ok := stdout.First(); ok {
		out.Timings.StartToOutput = first.Sub(t1)
	}
	if code != 0 {
		return fail("workload", fmt.Errorf("exited with status %d", code))
	}
	return out, nil
}

func teeOrNot(buf *FirstByteBuffer, w io.Writer) io.Writer {
	if w == nil {
		return buf
	}
	return io.MultiWriter(buf, w)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// FirstByteBuffer collects output and remembers when its first byte arrived.
type FirstByteBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first time.Time
}

func (b *FirstByteBuffer) Write(p []byte) (int, error) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first.IsZero() && len(p) > 0 {
		b.first = now
	}
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written.
func (b *FirstByteBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// String returns what was written; tests read it while a container still writes.
func (b *FirstByteBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// First returns when the first byte arrived.
func (b *FirstByteBuffer) First() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.first, !b.first.IsZero()
}

// RunToExitSaved is RunToExit with the workload's stdout and stderr written to
// name.stdout and name.stderr in the trial's raw directory, so they are kept when the
// trial fails too.
func RunToExitSaved(ctx context.Context, t *Trial, name string, spec runtime.Spec) (_ *Outcome, err error) {
	stdout, stderr, err := t.createOutputs(name)
	if err != nil {
		return nil, err
	}
	defer closeRaw(stdout, &err)
	defer closeRaw(stderr, &err)
	spec.Stdout, spec.Stderr = stdout, stderr
	return RunToExit(ctx, t.Driver, spec)
}

// ContainerAddress waits, up to limit, until a started container's driver knows its
// address (engines assign it at start), and returns its network once it is sure traffic
// to that address stays on the host.
func ContainerAddress(ctx context.Context, c runtime.Container, limit time.Duration) (runtime.NetworkInfo, error) {
	deadline := time.Now().Add(limit)
	for {
		n := c.Network()
		if n.ContainerIP != "" && n.HostIP != "" {
			addr, err := netip.ParseAddr(n.ContainerIP)
			if err != nil {
				return n, fmt.Errorf("the runtime gave container %s the address %q: %w", c.ID(), n.ContainerIP, err)
			}
			if err := netsetup.CheckReachable(addr); err != nil {
				return n, fmt.Errorf("container %s: %w", c.ID(), err)
			}
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("the runtime gave container %s no address within %s", c.ID(), limit)
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
