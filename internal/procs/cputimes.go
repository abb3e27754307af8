package procs

import "fmt"

// Times is a process's CPU accounting from /proc/PID/stat, in clock ticks (USER_HZ).
type Times struct {
	PPID int
	// Start is when the process started, in ticks after boot: it tells a reused PID apart.
	Start uint64
	// Own is the time of the process and all its threads, live and exited; Reaped is that
	// of the children it has waited for.
	Own, Reaped uint64
}

// CPUTimes reads pid's CPU accounting; the error wraps fs.ErrNotExist when pid is gone.
func CPUTimes(pid int) (Times, error) {
	st, err := stat(pid)
	if err != nil {
		return Times{}, err
	}
	if st.CUTime < 0 || st.CSTime < 0 {
		return Times{}, fmt.Errorf("process %d: negative children's times %d and %d", pid, st.CUTime, st.CSTime)
	}
	return Times{PPID: st.PPID, Start: st.Starttime, Own: uint64(st.UTime + st.STime), Reaped: uint64(st.CUTime + st.CSTime)}, nil
}
