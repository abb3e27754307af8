package daemonproc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadyThenStoppedBySIGTERM(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	log := filepath.Join(dir, "log")
	p, err := Start(exec.Command("sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo starting; touch "+ready+"; while :; do sleep 0.05; done"), log)
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(context.Background(), func() bool { _, err := os.Stat(ready); return err == nil }, 10*time.Second)
	if err != nil {
		p.Kill()
		t.Fatal(err)
	}
	if pgid, err := syscall.Getpgid(p.PID()); err != nil || pgid != p.PID() {
		t.Errorf("process group %d (%v), want its own, %d", pgid, err, p.PID())
	}
	p.Stop(10 * time.Second)
	if tail := p.LogTail(); !strings.Contains(tail, "starting") || !strings.Contains(tail, "got TERM") {
		t.Errorf("log %q: want its output and the SIGTERM it trapped", tail)
	}
}

func TestADaemonIgnoringSIGTERMIsKilled(t *testing.T) {
	dir := t.TempDir()
	trapped := filepath.Join(dir, "trapped")
	p, err := Start(exec.Command("sh", "-c", "trap '' TERM; touch "+trapped+"; while :; do sleep 0.05; done"), filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(context.Background(), func() bool { _, err := os.Stat(trapped); return err == nil }, 10*time.Second); err != nil {
		p.Kill()
		t.Fatal(err)
	}
	p.Stop(200 * time.Millisecond)
	select {
	case <-p.exited:
	default:
		t.Fatal("Stop returned with the daemon alive")
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the daemon ended with %v, want SIGKILL", p.cmd.ProcessState)
	}
}

func TestWaitReadyFails(t *testing.T) {
	never := func() bool { return false }
	p, err := Start(exec.Command("sh", "-c", "echo bad config >&2; exit 3"), filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(context.Background(), never, 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited while starting: bad config") {
		t.Errorf("an exited daemon: %v", err)
	}
	p, err = Start(exec.Command("sleep", "30"), filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if err := p.WaitReady(context.Background(), never, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not answer within 200ms: (no output)") {
		t.Errorf("a daemon that never answers: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.WaitReady(ctx, never, 10*time.Second); err != context.Canceled {
		t.Errorf("a cancelled wait: %v", err)
	}
	if _, err := Start(exec.Command("/nonexistent/daemon"), filepath.Join(t.TempDir(), "log")); err == nil {
		t.Error("a daemon that cannot start started")
	}
}
