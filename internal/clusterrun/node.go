package clusterrun

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// NodeExec is what a node's Job runs: it enters the host's root (mounted at root inside
// the privileged pod, which shares the host's PID and network namespaces), runs
// `binary run args... --out DIR` there, then writes DIR as an archive to out and removes it.
// It returns the run's exit status.
func NodeExec(root, binary string, args []string, out, errOut io.Writer) int {
	for _, a := range args {
		if a == "--out" || a == "-o" || len(a) > 6 && a[:6] == "--out=" {
			fmt.Fprintln(errOut, "isobench cluster node-exec: the run's --out is chosen by cluster run")
			return 2
		}
	}
	if root != "" && root != "/" {
		if err := syscall.Chroot(root); err != nil {
			fmt.Fprintf(errOut, "isobench cluster node-exec: entering the host's root %s: %v\n", root, err)
			return 1
		}
		if err := os.Chdir("/"); err != nil {
			fmt.Fprintf(errOut, "isobench cluster node-exec: %v\n", err)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "isobench-cluster-run-")
	if err != nil {
		fmt.Fprintf(errOut, "isobench cluster node-exec: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	runDir := dir + "/run"
	cmd := exec.Command(binary, append(append([]string{"run"}, args...), "--out", runDir)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(errOut, "isobench cluster node-exec: running %s: %v\n", binary, err)
		return 1
	}
	// Deleting the Job sends SIGTERM here (PID 1 of the pod): the run gets it, so it
	// removes its containers before the grace period ends, as on Ctrl-C.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			// The run may have just ended; a signal to nothing is harmless.
			_ = cmd.Process.Signal(s)
		}
	}()
	code := 0
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintf(errOut, "isobench cluster node-exec: running %s: %v\n", binary, err)
			return 1
		}
		code = ee.ExitCode()
	}
	if _, err := os.Stat(runDir); err != nil {
		fmt.Fprintf(errOut, "isobench cluster node-exec: the run left no run directory (exit %d)\n", code)
		if code == 0 {
			code = 1
		}
		return code
	}
	if err := WriteArchive(out, runDir); err != nil {
		fmt.Fprintf(errOut, "isobench cluster node-exec: %v\n", err)
		return 1
	}
	return code
}
