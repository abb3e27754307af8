// Package procs reads the host's processes from /proc (through prometheus/procfs): parents,
// descendants, command lines and proportional memory.
package procs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/procfs"
)

// ParentPID is pid's parent; 0 when pid is gone.
func ParentPID(pid int) int {
	st, err := stat(pid)
	if err != nil {
		return 0
	}
	return st.PPID
}

// Stat is what isobench reads from /proc/PID/stat.
type Stat struct {
	PPID  int
	Comm  string
	State string // R, S, D, Z, ...
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	st, err := stat(pid)
	if err != nil {
		return Stat{}, err
	}
	return Stat{PPID: st.PPID, Comm: st.Comm, State: st.State}, nil
}

func stat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, fmt.Errorf("process %d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return procfs.ProcStat{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return st, nil
}

// Cmdline is pid's argument vector; nil when pid is gone or a kernel thread.
func Cmdline(pid int) []string {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return nil
	}
	args, err := p.CmdLine()
	if err != nil {
		return nil
	}
	return args
}

// Comm is pid's command name; "" when pid is gone.
func Comm(pid int) string {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return ""
	}
	c, err := p.Comm()
	if err != nil {
		return ""
	}
	return c
}

// All lists the PIDs of every process on the host.
func All() ([]int, error) {
	ps, err := procfs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	out := make([]int, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out, nil
}

// Descendants lists the children of pid, recursively, depth first.
func Descendants(pid int) []int {
	var out []int
	for _, child := range children(pid) {
		out = append(out, child)
		out = append(out, Descendants(child)...)
	}
	return out
}

// children reads /proc/PID/task/*/children, which procfs has no reader for. It is used
// instead of scanning every process for its parent because runsc's create looks for its
// sandbox this way inside a timed phase.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, child)
			}
		}
	}
	return out
}

// PSS is pid's proportional set size in bytes: shared pages count in part, so a sum over
// processes does not count them twice.
func PSS(pid int) (uint64, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	r, err := p.ProcSMapsRollup()
	if err != nil {
		return 0, fmt.Errorf("smaps_rollup of %d: %w", pid, err)
	}
	return r.Pss, nil
}

// Alive tells whether pid runs and is not a zombie.
func Alive(pid int) bool {
	st, err := stat(pid)
	return err == nil && st.State != "Z"
}

// PIDMax is the kernel's kernel.pid_max.
func PIDMax() (uint64, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, err
	}
	v, err := fs.SysctlInts("kernel.pid_max")
	if err != nil || len(v) != 1 || v[0] < 1 {
		return 0, fmt.Errorf("reading kernel.pid_max: %v", err)
	}
	return uint64(v[0]), nil
}

// Mapping is one memory mapping of a process, as /proc/PID/smaps tells it.
type Mapping struct {
	SizeBytes int64
	PSSBytes  int64
}

// Mappings reads /proc/PID/smaps mapping by mapping. procfs only sums smaps up, and a
// VMM's guest RAM must be told apart from the rest of its memory.
func Mappings(pid int) ([]Mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, fmt.Errorf("reading the memory map of %d: %w", pid, err)
	}
	defer f.Close()
	var out []Mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		// A mapping's header starts with its address range, e.g. 7f00-7f80 rw-p ...
		if strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			out = append(out, Mapping{})
			continue
		}
		if len(out) == 0 || len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Size:":
			out[len(out)-1].SizeBytes = kb << 10
		case "Pss:":
			out[len(out)-1].PSSBytes = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the memory map of %d: %w", pid, err)
	}
	return out, nil
}

// ExitStatus is the shell's view of how a waited-for child ended: its exit code, or 128
// plus the signal that killed it. ok is false when err is not about the child's exit.
func ExitStatus(err error) (code int, ok bool) {
	if err == nil {
		return 0, true
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1, false
	}
	if ws, isWS := ee.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
		return 128 + int(ws.Signal()), true
	}
	return ee.ExitCode(), true
}
