package vmm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/guestproto"
)

// kernelPanic starts the line a panicking Linux kernel prints; panicEnd starts the last
// line of its report, printed only by a kernel that does not reset on panic (panic=0).
const (
	kernelPanic = "Kernel panic - not syncing"
	panicEnd    = "---[ end Kernel panic"
)

// Console is the host side of a VM's serial console: it keeps the raw output in a log,
// demultiplexes the agent's protocol lines into the workload's stdout and stderr, and
// records the boot phases and the workload's exit.
type Console struct {
	log            io.Writer
	stdout, stderr io.Writer

	// InitSeen closes when the agent reported init; Done when the console reached EOF.
	InitSeen chan struct{}
	Done     chan struct{}
	// ExitSeen closes when the agent reported the workload's exit or its failure.
	ExitSeen chan struct{}
	// PanicSeen closes when the guest kernel printed a panic: some VMMs reboot the guest
	// then (Cloud Hypervisor on reboot=k), which would run the workload again.
	// PanicReported closes when the whole panic report is on the console.
	PanicSeen     chan struct{}
	PanicReported chan struct{}

	mu        sync.Mutex
	startT    time.Time
	phases    []runtime.Phase
	exitCode  int
	gotExit   bool
	failMsg   string
	tail      []byte // last console text that is not protocol, for error messages
	guestInit int64  // guest CLOCK_BOOTTIME at init, ns
	panicMsg  string
	initOnce  sync.Once
	exitOnce  sync.Once
	panicOnce sync.Once
	endOnce   sync.Once
}

// NewConsole makes a console; nil writers discard.
func NewConsole(log, stdout, stderr io.Writer) *Console {
	return &Console{log: log, stdout: stdout, stderr: stderr, InitSeen: make(chan struct{}),
		Done: make(chan struct{}), ExitSeen: make(chan struct{}), PanicSeen: make(chan struct{}),
		PanicReported: make(chan struct{})}
}

// MarkStart sets the time phases are measured from (the start call).
func (c *Console) MarkStart(t time.Time) {
	c.mu.Lock()
	c.startT = t
	c.mu.Unlock()
}

// AddPhase records a phase reached at a time.
func (c *Console) AddPhase(name string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phases = append(c.phases, runtime.Phase{Name: name, Since: at.Sub(c.startT)})
}

// Phases lists the phases in time order.
func (c *Console) Phases() []runtime.Phase {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]runtime.Phase(nil), c.phases...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since < out[j].Since })
	return out
}

// GuestInitBoottime is the guest's own clock (CLOCK_BOOTTIME) when the agent started: the
// kernel's view of how long its boot took, independent of the host's timestamps.
func (c *Console) GuestInitBoottime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.guestInit)
}

// Read consumes the console until EOF and then closes Done; run it in a goroutine.
func (c *Console) Read(r io.Reader) {
	defer close(c.Done)
	br := bufio.NewReaderSize(r, 64<<10)
	first := true
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			now := time.Now()
			if first {
				c.AddPhase(runtime.PhaseKernelStart, now)
				first = false
			}
			if c.log != nil {
				_, _ = io.WriteString(c.log, line)
			}
			c.HandleLine(strings.TrimRight(line, "\r\n"), now)
		}
		if err != nil {
			return
		}
	}
}

// HandleLine processes one console line received at now.
func (c *Console) HandleLine(line string, now time.Time) {
	e, ok := guestproto.ParseEvent(line)
	if !ok {
		c.mu.Lock()
		c.tail = append(c.tail, line+"\n"...)
		if len(c.tail) > 4096 {
			c.tail = c.tail[len(c.tail)-4096:]
		}
		_, msg, isPanic := strings.Cut(line, kernelPanic)
		if isPanic && c.panicMsg == "" {
			c.panicMsg = kernelPanic + msg
		}
		c.mu.Unlock()
		if isPanic {
			c.panicOnce.Do(func() { close(c.PanicSeen) })
		}
		if strings.Contains(line, panicEnd) {
			c.endOnce.Do(func() { close(c.PanicReported) })
		}
		return
	}
	switch e.Kind {
	case guestproto.EventInit:
		c.AddPhase(runtime.PhaseInitReached, now)
		c.mu.Lock()
		c.guestInit = e.Value
		c.mu.Unlock()
		c.initOnce.Do(func() { close(c.InitSeen) })
	case guestproto.EventStarted:
		c.AddPhase(runtime.PhaseWorkloadStarted, now)
	case guestproto.EventStdout:
		if c.stdout != nil {
			_, _ = c.stdout.Write(e.Data)
		}
	case guestproto.EventStderr:
		if c.stderr != nil {
			_, _ = c.stderr.Write(e.Data)
		}
	case guestproto.EventExit:
		c.AddPhase(runtime.PhaseWorkloadExit, now)
		c.mu.Lock()
		c.exitCode, c.gotExit = int(e.Value), true
		c.mu.Unlock()
		c.exitOnce.Do(func() { close(c.ExitSeen) })
	case guestproto.EventFail:
		c.mu.Lock()
		c.failMsg = string(e.Data)
		c.mu.Unlock()
		c.exitOnce.Do(func() { close(c.ExitSeen) })
	}
}

// Tail is the last n lines of console text that were not protocol, joined with " | ".
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return LastLines(c.tail, n)
}

// Result is the workload's exit code as the agent reported it; call it after Done.
func (c *Console) Result() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.failMsg != "":
		return -1, fmt.Errorf("guest agent: %s", c.failMsg)
	case !c.gotExit && c.panicMsg != "":
		return -1, fmt.Errorf("guest kernel panic before the workload finished: %s; console: %s", c.panicMsg, LastLines(c.tail, 5))
	case !c.gotExit:
		return -1, fmt.Errorf("VM stopped before the workload finished (kernel panic or agent crash); console: %s", LastLines(c.tail, 5))
	}
	return c.exitCode, nil
}

// Wait waits for the VMM to exit (exited closes) and returns the workload's exit code. A
// guest that does not reach init within boot, or a cancelled ctx, gets the VM killed
// (kill must return once the VMM is gone).
func (c *Console) Wait(ctx context.Context, exited <-chan struct{}, boot time.Duration, kill func()) (int, error) {
	timer := time.NewTimer(boot)
	defer timer.Stop()
	initSeen := c.InitSeen
	for {
		select {
		case <-exited:
			<-c.Done
			return c.Result()
		case <-initSeen:
			initSeen = nil // seen: stop selecting on it, the boot timer no longer matters
			timer.Stop()
		case <-timer.C:
			kill()
			return -1, fmt.Errorf("guest did not reach init within %s; console: %s", boot, c.Tail(5))
		case <-ctx.Done():
			kill()
			return -1, fmt.Errorf("waiting for VM: %w; console: %s", ctx.Err(), c.Tail(5))
		}
	}
}

// LastLines is the last n lines of b joined with " | ".
func LastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
