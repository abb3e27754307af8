// Package procs reads the host's processes from /proc (through prometheus/procfs): parents,
// descendants, command lines and proportional memory.
package procs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

// Tree is who is whose parent among the host's processes at one moment.
type Tree struct {
	children map[int][]int
}

// ReadTree reads every process's parent. The kernel's only index of children,
// /proc/PID/task/TID/children, needs CONFIG_PROC_CHILDREN, is reliable only while the
// children are stopped, and has no reader in procfs; a scan costs about 20 µs a process.
func ReadTree() (Tree, error) {
	ps, err := procfs.AllProcs()
	if err != nil {
		return Tree{}, fmt.Errorf("listing processes: %w", err)
	}
	t := Tree{children: map[int][]int{}}
	for _, p := range ps {
		// A process that exited since the listing has no parent to tell.
		if st, err := p.Stat(); err == nil {
			t.children[st.PPID] = append(t.children[st.PPID], p.PID)
		}
	}
	return t, nil
}

// Descendants lists the children of pid, recursively, depth first.
func (t Tree) Descendants(pid int) []int {
	var out []int
	// A PID reused while the tree was read can make a parent appear under its own child.
	seen := map[int]bool{pid: true}
	var walk func(parent int)
	walk = func(parent int) {
		for _, child := range t.children[parent] {
			if !seen[child] {
				seen[child] = true
				out = append(out, child)
				walk(child)
			}
		}
	}
	walk(pid)
	return out
}

// Descendants lists the children of pid, recursively, depth first; none when the
// processes cannot be listed. Finding those of several processes, read one Tree.
func Descendants(pid int) []int {
	t, err := ReadTree()
	if err != nil {
		return nil
	}
	return t.Descendants(pid)
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

// Mappings reads /proc/PID/smaps mapping by mapping, a VMM's guest RAM having to be told
// apart from the rest of its memory. procfs has no such reader: ProcSMapsRollup only
// sums smaps up, and ProcMaps reads /proc/PID/maps, which has no PSS. So this reads the
// two fields it needs and no other.
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
		if fields[0] != "Size:" && fields[0] != "Pss:" {
			continue
		}
		if len(out) == 0 || len(fields) != 3 || fields[2] != "kB" {
			return nil, fmt.Errorf("reading the memory map of %d: unexpected line %q", pid, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("reading the memory map of %d: %w", pid, err)
		}
		if m := &out[len(out)-1]; fields[0] == "Size:" {
			m.SizeBytes = kb << 10
		} else {
			m.PSSBytes = kb << 10
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
