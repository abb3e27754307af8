// Package probe is the probe mode of the isobench binary: small workloads that the harness
// brings into every container at bench.ProbePath, so that every runtime runs the very same
// program. It is reached as `isobench probe SUBCOMMAND ...`.
//
// The binary must be static, because it runs inside images that may lack a C library (or
// have a different one): build it with CGO_ENABLED=0. CheckStatic tells whether a binary is.
//
// Subcommands:
//
//	probe syscall [--iterations N] [--spawns N] [--min-time D] [--repetitions N]
//	    ns per getpid (raw syscall), per clock_gettime (vDSO) and per fork+exec+wait of
//	    `probe true`, as one JSON object on stdout (see SyscallResult)
//	probe tcp-server --listen ADDR
//	    echo server for tcp-client; prints "listening ADDR" once ready, runs until signalled
//	probe tcp-client --connect ADDR [--count N] [--size B] [--timeout D]
//	    request/response round trips; prints one JSON object (see TCPResult)
//	probe sleep     blocks until SIGTERM or SIGINT, then exits 0 (an idle container)
//	probe marker    prints Marker and exits 0 (the start-up benchmark's trivial command)
//	probe true      exits 0 at once (the program fork+exec+wait runs)
package probe

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Marker is the line `probe marker` prints.
const Marker = "isobench-probe-marker"

// Command is the first argument that puts the isobench binary into probe mode.
const Command = "probe"

// Main runs the probe subcommand named by args[0] (the words after `isobench probe`) and
// returns the process exit status: 0 on success, 1 when the workload failed, 2 on bad usage.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "true":
		return 0
	case "marker":
		_, err = fmt.Fprintln(stdout, Marker)
	case "sleep":
		err = sleepUntilSignalled()
	case "syscall":
		err = runSyscall(args[1:], stdout)
	case "tcp-server":
		err = runTCPServer(args[1:], stdout)
	case "tcp-client":
		err = runTCPClient(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		err = usageError{fmt.Errorf("unknown probe subcommand %q", args[0])}
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "isobench probe %s: %v\n", args[0], err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	return 1
}

const usage = `usage: isobench probe true|marker|sleep
       isobench probe syscall [--iterations N] [--spawns N] [--min-time DURATION] [--repetitions N]
       isobench probe tcp-server --listen ADDR
       isobench probe tcp-client --connect ADDR [--count N] [--size BYTES] [--timeout DURATION]`

// usageError marks bad command lines, which exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// sleepUntilSignalled installs handlers explicitly: as PID 1 of a container a process
// without a handler never receives SIGTERM.
func sleepUntilSignalled() error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	return nil
}

// CheckStatic returns an error unless the ELF file at path is statically linked (has no
// program interpreter), so it can run in any image.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("reading probe binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("probe binary %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}
