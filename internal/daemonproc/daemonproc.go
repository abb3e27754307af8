// Package daemonproc runs a daemon (an engine's API service) as a child process that
// isobench starts, waits for and ends.
package daemonproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a started daemon.
type Process struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// Start runs cmd with its output appended to logPath, in its own process group: a Ctrl-C
// to isobench must not take the daemon away while isobench still removes what it made
// through it.
func Start(cmd *exec.Cmd, logPath string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the log of %s: %w", cmd.Path, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.exited) }()
	return p, nil
}

// PID is the daemon's process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// WaitReady polls ready until it says true. It fails, with the end of the log, when the
// daemon exits, ctx ends or timeout passes first; the daemon is left to the caller to stop.
func (p *Process) WaitReady(ctx context.Context, ready func() bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case <-p.exited:
			return fmt.Errorf("exited while starting: %s", p.LogTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not answer within %s: %s", timeout, p.LogTail())
		}
	}
	return nil
}

// Stop ends the daemon with SIGTERM, SIGKILL after grace, and returns once it is gone.
func (p *Process) Stop(grace time.Duration) {
	// An error means the daemon is gone already, which is what Stop is for.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill ends the daemon with SIGKILL, as a crash would, and returns once it is gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill() // an error means it is gone already
	<-p.exited
}

// LogTail is the end of the daemon's log, for error messages.
func (p *Process) LogTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return "(no output)"
}
