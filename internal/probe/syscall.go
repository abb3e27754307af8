package probe

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SyscallResult is what `probe syscall` prints: one ns/op value per repetition of each
// operation, so the harness can take medians.
type SyscallResult struct {
	Iterations   int       `json:"iterations"`
	Spawns       int       `json:"spawns"`
	MinTimeNs    int64     `json:"min_time_ns"`
	Repetitions  int       `json:"repetitions"`
	GetpidNs     []float64 `json:"getpid_ns"`
	ClockGettime []float64 `json:"clock_gettime_ns"`
	ForkExecWait []float64 `json:"fork_exec_wait_ns"`
}

func runSyscall(args []string, stdout io.Writer) error {
	fs := newFlagSet("syscall")
	iterations := fs.Int("iterations", 100_000, "getpid and clock_gettime calls per batch")
	spawns := fs.Int("spawns", 20, "fork+exec+wait rounds per batch")
	minTime := fs.Duration("min-time", 0, "a repetition runs whole batches until this much time has passed (0: one batch)")
	repetitions := fs.Int("repetitions", 5, "timed repetitions of each operation")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *iterations < 1 || *spawns < 1 || *repetitions < 1 || *minTime < 0 {
		return usageError{errors.New("--iterations, --spawns and --repetitions must be at least 1, --min-time not negative")}
	}
	res, err := MeasureSyscalls(*iterations, *spawns, *repetitions, *minTime)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// MeasureSyscalls times each operation repetitions times on the monotonic clock, after one
// untimed warm-up batch, and reports ns per operation. A repetition runs whole batches
// (iterations calls, or spawns rounds) until minTime has passed, so that slow runtimes
// are not measured for much longer than fast ones and fast ones not too briefly.
func MeasureSyscalls(iterations, spawns, repetitions int, minTime time.Duration) (*SyscallResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the probe's own binary: %w", err)
	}
	s, err := newSpawner(exe, []string{exe, Command, "true"}, os.Environ())
	if err != nil {
		return nil, err
	}
	res := &SyscallResult{Iterations: iterations, Spawns: spawns, MinTimeNs: minTime.Nanoseconds(), Repetitions: repetitions}
	ops := []struct {
		out   *[]float64
		batch int
		run   func(n int) (time.Duration, error)
	}{
		{&res.GetpidNs, iterations, getpidLoop},
		{&res.ClockGettime, iterations, clockLoop},
		{&res.ForkExecWait, spawns, s.loop},
	}
	for _, op := range ops {
		if _, err := op.run(op.batch); err != nil { // warm-up
			return nil, err
		}
		for r := 0; r < repetitions; r++ {
			var total time.Duration
			calls := 0
			for calls == 0 || total < minTime {
				d, err := op.run(op.batch)
				if err != nil {
					return nil, err
				}
				total += d
				calls += op.batch
			}
			*op.out = append(*op.out, float64(total.Nanoseconds())/float64(calls))
		}
	}
	return res, nil
}

// getpidLoop uses the raw syscall: Go and libc wrappers may cache the pid or add scheduler work.
func getpidLoop(n int) (time.Duration, error) {
	start := time.Now()
	for i := 0; i < n; i++ {
		syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
	}
	return time.Since(start), nil
}

// clockLoop calls time.Since, which is one clock_gettime(CLOCK_MONOTONIC) through the vDSO
// (time.Now would make two: wall and monotonic).
func clockLoop(n int) (time.Duration, error) {
	start := time.Now()
	var sink time.Duration
	for i := 0; i < n; i++ {
		sink += time.Since(start)
	}
	elapsed := time.Since(start)
	if sink < 0 {
		return 0, errors.New("monotonic clock went backwards")
	}
	return elapsed, nil
}

// spawner runs a program with a real fork (a full copy of the address space, as a shell
// does), then execve and wait4. Go's os/exec uses vfork-like clone(CLONE_VM|CLONE_VFORK),
// which skips the page-table copy whose cost differs most between runtimes.
type spawner struct {
	path *byte
	argv []*byte // nil-terminated
	envv []*byte // nil-terminated
}

func newSpawner(path string, argv, env []string) (*spawner, error) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("probe path: %w", err)
	}
	a, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return nil, fmt.Errorf("probe arguments: %w", err)
	}
	e, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return nil, fmt.Errorf("probe environment: %w", err)
	}
	return &spawner{path: p, argv: a, envv: e}, nil
}

// loop runs n fork+exec+wait rounds.
func (s *spawner) loop(n int) (time.Duration, error) {
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := s.forkExecWait(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func (s *spawner) forkExecWait() error {
	// Block every signal around fork so that no Go signal handler runs in the child before
	// execve. The mask survives execve; `probe true` exits at once, so that does not matter.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		return fmt.Errorf("blocking signals: %w", err)
	}
	pid, errno := rawForkExec(s.path, &s.argv[0], &s.envv[0])
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil); err != nil {
		return fmt.Errorf("restoring signal mask: %w", err)
	}
	goruntime.KeepAlive(s)
	if errno != 0 {
		return fmt.Errorf("fork: %w", errno)
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait4: %w", err)
		}
		break
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("spawned probe ended with wait status %#x (exit 127: execve failed)", uint32(ws))
	}
	return nil
}

// rawForkExec forks; the child only makes raw syscalls (nosplit: it must not grow the
// stack or touch the Go runtime) until execve replaces it.
//
//go:nosplit
//go:norace
func rawForkExec(path *byte, argv, envv **byte) (int, syscall.Errno) {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 || pid != 0 {
		return int(pid), errno
	}
	syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(argv)), uintptr(unsafe.Pointer(envv)))
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0)
	}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("isobench probe "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
