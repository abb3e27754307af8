// Package procs reads the host's processes from /proc (through prometheus/procfs): parents,
// descendants, command lines and proportional memory.
package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
