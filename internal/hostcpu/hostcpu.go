// Package hostcpu measures the host CPU time a container costs: every process the
// runtime started for it (workload, shim, sandbox, gofer, VMM with its threads, engine
// helpers), read from /proc before and after a timed section and told apart by role.
package hostcpu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; Linux fixes it at 100 on
// every architecture isobench builds for.
const clockTicks = 100

// RoleTotal is the role under which Usage sums every role.
const RoleTotal = "total"

// proc is one process's accounting at one moment.
type proc struct {
	pid   int
	start uint64 // start time in ticks after boot: tells a reused pid apart
	ppid  int
	role  string
	// own is the CPU time of the process and all its threads, live and exited; reaped is
	// that of its children it has waited for. Both in ticks.
	own, reaped uint64
}

func (p proc) key() string { return fmt.Sprintf("%d/%d", p.pid, p.start) }

// Snapshot is the accounting of a container's processes at one moment.
type Snapshot struct {
	At    time.Time
	procs map[string]proc
}

// Take reads the accounting of every process of c and of their descendants (a runsc
// sandbox's stub processes, a VMM's helpers); a descendant takes the role of the
// process it descends from.
func Take(ctx context.Context, c runtime.Container) (*Snapshot, error) {
	listed, err := c.Processes(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the processes of %s: %w", c.ID(), err)
	}
	if len(listed) == 0 {
		return nil, fmt.Errorf("the runtime named no host process of %s", c.ID())
	}
	return TakeProcesses(listed)
}

// TakeProcesses is Take for a list of processes.
func TakeProcesses(listed []runtime.Process) (*Snapshot, error) {
	s := &Snapshot{At: time.Now(), procs: map[string]proc{}}
	tree, err := procs.ReadTree()
	if err != nil {
		return nil, err
	}
	roles := map[int]string{}
	for _, p := range listed {
		if _, seen := roles[p.PID]; !seen {
			roles[p.PID] = p.Role
		}
		for _, d := range tree.Descendants(p.PID) {
			if _, seen := roles[d]; !seen {
				roles[d] = p.Role
			}
		}
	}
	read := 0
	for pid, role := range roles {
		p, err := readStat(pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue // exited meanwhile: its time shows in its parent's reaped time
		}
		if err != nil {
			return nil, err
		}
		p.role = role
		s.procs[p.key()] = p
		read++
	}
	if read == 0 {
		return nil, errors.New("every process the runtime named has exited")
	}
	return s, nil
}

// readStat reads the accounting of pid.
func readStat(pid int) (proc, error) {
	t, err := procs.CPUTimes(pid)
	if err != nil {
		return proc{}, err
	}
	return proc{pid: pid, ppid: t.PPID, start: t.Start, own: t.Own, reaped: t.Reaped}, nil
}

// Usage is the CPU time a container's processes took between two snapshots.
type Usage struct {
	// Seconds is CPU seconds per role, and the sum under RoleTotal.
	Seconds map[string]float64
	// Wall is the time between the snapshots.
	Wall time.Duration
	// Lost counts processes that exited between the snapshots without a parent among the
	// container's processes to collect their time: that time is missing from Seconds.
	Lost int
}

// Since is the CPU time taken from before to after.
//
// A process that exited in between is counted through its parent's reaped time, which
// holds all of the child's time; the part the child had already taken at before is
// subtracted there. Processes that started in between count whole.
func Since(before, after *Snapshot) Usage {
	u := Usage{Seconds: map[string]float64{}, Wall: after.At.Sub(before.At)}
	ticks := map[string]int64{}
	for k, a := range after.procs {
		total := int64(a.own + a.reaped)
		if b, ok := before.procs[k]; ok {
			total -= int64(b.own + b.reaped)
		}
		ticks[a.role] += total
	}
	alive := map[int]proc{}
	for _, a := range after.procs {
		alive[a.pid] = a
	}
	for k, b := range before.procs {
		if _, ok := after.procs[k]; ok {
			continue
		}
		parent, ok := alive[b.ppid]
		if !ok {
			u.Lost++
			continue
		}
		// The child's whole time is in the parent's reaped time now; what it took before
		// the first snapshot is not part of the section.
		ticks[parent.role] -= int64(b.own + b.reaped)
	}
	var total int64
	roles := make([]string, 0, len(ticks))
	for r := range ticks {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	for _, r := range roles {
		t := max(ticks[r], 0)
		u.Seconds[r] = float64(t) / clockTicks
		total += t
	}
	u.Seconds[RoleTotal] = float64(total) / clockTicks
	return u
}

// Roles lists the roles in u, RoleTotal first.
func (u Usage) Roles() []string {
	out := []string{RoleTotal}
	var rest []string
	for r := range u.Seconds {
		if r != RoleTotal {
			rest = append(rest, r)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}
