package procs

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestThisProcessAndAChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	// Until the child has executed sleep, its command line is in flux.
	for i := 0; i < 200 && Comm(pid) != "sleep"; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := ParentPID(pid); got != os.Getpid() {
		t.Errorf("ParentPID = %d, want %d", got, os.Getpid())
	}
	if args := Cmdline(pid); len(args) != 2 || args[1] != "30" {
		t.Errorf("Cmdline = %q", args)
	}
	if cpus, err := AllowedCPUs(pid); err != nil || len(cpus) == 0 {
		t.Errorf("AllowedCPUs = %v, %v", cpus, err)
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
	if Cmdline(1<<30) != nil || Alive(1<<30) || ParentPID(1<<30) != 0 {
		t.Error("a process that does not exist was found")
	}
}

func TestGrandchildrenAreDescendants(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var sleep int
	for i := 0; i < 200 && sleep == 0; i++ {
		time.Sleep(10 * time.Millisecond)
		for _, d := range Descendants(os.Getpid()) {
			if Comm(d) == "sleep" && ParentPID(d) == cmd.Process.Pid {
				sleep = d
			}
		}
	}
	if sleep == 0 {
		t.Fatalf("the shell's sleep is not among this process's descendants %v", Descendants(os.Getpid()))
	}
	defer syscall.Kill(sleep, syscall.SIGKILL)
	if d := Descendants(cmd.Process.Pid); len(d) != 1 || d[0] != sleep {
		t.Errorf("Descendants of the shell = %v, want [%d]", d, sleep)
	}
}

// TestMappingsFindsAnAnonymousMapping maps memory of an odd size, touches all of it (so
// transparent huge pages change nothing) and looks for that one mapping with its
// proportional share, as vmm.ReadVMMMemory looks for a guest's RAM.
func TestMappingsFindsAnAnonymousMapping(t *testing.T) {
	const size = 1234 << 12
	// Inaccessible guard pages on both sides keep the kernel from merging the mapping
	// with a neighbouring anonymous one (the Go heap), which would change its size.
	region, err := syscall.Mmap(-1, 0, size+2*4096, syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(region)
	mem := region[4096 : 4096+size]
	if err := syscall.Mprotect(mem, syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i += 4096 {
		mem[i] = 1
	}
	maps, err := Mappings(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var found []Mapping
	var total int64
	for _, m := range maps {
		total += m.PSSBytes
		if m.SizeBytes == size {
			found = append(found, m)
		}
	}
	// The private pages are this process's alone, so their PSS is their size.
	if len(found) != 1 || found[0].PSSBytes != size {
		t.Errorf("mappings of %d bytes: %+v, want one with a PSS as large", size, found)
	}
	if pss, err := PSS(os.Getpid()); err != nil || uint64(total) > pss+size || uint64(total)+size < pss {
		t.Errorf("mappings' PSS sum %d, smaps_rollup %d (%v): they should agree within the test's own churn", total, pss, err)
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
