package procs

import (
	"os"
	"os/exec"
	"testing"
)

func TestThisProcessAndAChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	if got := ParentPID(pid); got != os.Getpid() {
		t.Errorf("ParentPID = %d, want %d", got, os.Getpid())
	}
	if args := Cmdline(pid); len(args) != 2 || args[1] != "30" {
		t.Errorf("Cmdline = %q", args)
	}
	if Comm(pid) != "sleep" || !Alive(pid) {
		t.Errorf("Comm %q, alive %v", Comm(pid), Alive(pid))
	}
	found := false
	for _, d := range Descendants(os.Getpid()) {
		found = found || d == pid
	}
	if !found {
		t.Errorf("child %d not among the descendants", pid)
	}
	if pss, err := PSS(os.Getpid()); err != nil || pss == 0 {
		t.Errorf("PSS = %d, %v", pss, err)
	}
	maps, err := Mappings(os.Getpid())
	if err != nil || len(maps) == 0 {
		t.Errorf("Mappings = %d, %v", len(maps), err)
	}
	if Cmdline(1<<30) != nil || Alive(1<<30) || ParentPID(1<<30) != 0 {
		t.Error("a process that does not exist was found")
	}
}

func TestExitStatus(t *testing.T) {
	for cmd, want := range map[string]int{"exit 3": 3, "kill -9 $$": 137, "true": 0} {
		code, ok := ExitStatus(exec.Command("sh", "-c", cmd).Run())
		if !ok || code != want {
			t.Errorf("%s: %d, %v; want %d", cmd, code, ok, want)
		}
	}
	if _, ok := ExitStatus(exec.Command("/nonexistent").Run()); ok {
		t.Error("a failed start was taken for an exit")
	}
}
