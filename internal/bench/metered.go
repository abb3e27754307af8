package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/runtime"
)

// workloadExitMarker starts the line the metered wrapper prints on stderr when the
// workload ended, followed by its exit status.
const workloadExitMarker = "isobench-workload-exit"

// meteredWrapper runs the workload under sh, reports its status and then idles until
// the container is deleted, so that its processes (and their accounting) still exist
// when the host CPU is read. The newline first puts the marker at a line's start.
const meteredWrapper = `"$@"; s=$?; printf '\n` + workloadExitMarker + ` %d\n' "$s" >&2; exec sleep 3600`

// Metered is the outcome of RunMetered: the workload's output, and the host CPU its
// container's processes took from just before Start until it ended.
type Metered struct {
	Stdout, Stderr []byte
	CPU            HostCPU
}

// RunMetered runs spec's workload to its end, like RunToExitSaved (name.stdout and
// name.stderr kept in the trial's raw directory), and reads the host CPU of every process
// the runtime started for it before they are gone. The image needs sh and sleep. limit
// bounds the workload; a non-zero exit is an error carrying the end of its stderr.
func RunMetered(ctx context.Context, t *Trial, name string, spec runtime.Spec, limit time.Duration) (res *Metered, err error) {
	stdoutFile, stderrFile, err := t.createOutputs(name)
	if err != nil {
		return nil, err
	}
	defer closeRaw(stdoutFile, &err)
	defer closeRaw(stderrFile, &err)
	stdout, stderr := &FirstByteBuffer{}, NewLineWatch()
	spec.Stdout, spec.Stderr = io.MultiWriter(stdout, stdoutFile), io.MultiWriter(stderr, stderrFile)
	spec.Args = append([]string{"sh", "-c", meteredWrapper, "sh"}, spec.Args...)
	c, err := t.Driver.New(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("preparing the container: %w", err)
	}
	defer func() {
		if rerr := runtime.Remove(context.WithoutCancel(ctx), c); rerr != nil && err == nil {
			err = fmt.Errorf("deleting the container: %w", rerr)
		}
	}()
	fail := func(step string, err error) (*Metered, error) {
		return nil, &FailedError{Err: fmt.Errorf("%s: %w", step, err), Stderr: tail(stderr.Bytes(), 4096)}
	}
	if err := c.Create(ctx); err != nil {
		return fail("create", err)
	}
	if err := c.Start(ctx); err != nil {
		return fail("start", err)
	}
	// Read once started: some drivers have no host process before Start.
	meter := StartCPU(ctx, t, c, name)
	waitCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	ended := make(chan error, 1)
	go func() {
		code, err := c.Wait(waitCtx)
		if err == nil {
			err = fmt.Errorf("the container exited (status %d) without the workload's exit line: is sh or sleep missing from the image?", code)
		}
		ended <- err
	}()
	marked := make(chan error, 1)
	go func() { marked <- stderr.WaitFor(waitCtx, workloadExitMarker) }()
	select {
	case err := <-marked:
		if err != nil {
			return fail("wait", fmt.Errorf("workload did not end within %s: %w", limit, err))
		}
	case err := <-ended:
		return fail("wait", err)
	}
	cpu := meter.Stop(ctx)
	code, err := exitStatus(stderr.Bytes())
	if err != nil {
		return fail("wait", err)
	}
	if code != 0 {
		return fail("workload", fmt.Errorf("exited with status %d", code))
	}
	return &Metered{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), CPU: cpu}, nil
}

// exitStatus reads the workload's status from the wrapper's exit line.
func exitStatus(stderr []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), workloadExitMarker+" "); ok {
			code, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				return 0, fmt.Errorf("malformed workload exit line %q", sc.Text())
			}
			return code, nil
		}
	}
	return 0, errors.New("no workload exit line in the output")
}
