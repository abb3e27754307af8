package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/runtime"
)

// Output is where a container's stream goes when the benchmark reads it back.
type Output interface {
	io.Writer
	Bytes() []byte
}

// ServerContainer is a networked container serving a client on the host (network's echo
// server, http's apache2): made, started, reached at its address and removed, with its
// output kept in the trial's raw directory.
type ServerContainer struct {
	runtime.Container
	trial  *Trial
	stdout io.Writer
	stderr Output
	name   string
}

// NewServerContainer makes the container of spec, networked, with its stdout and stderr
// going to stdout and stderr; name.stdout and name.stderr in the raw directory keep them
// when the container is removed (stdout only when it is an Output).
func NewServerContainer(ctx context.Context, t *Trial, name string, spec runtime.Spec, stdout io.Writer, stderr Output) (*ServerContainer, error) {
	if spec.ID == "" {
		spec.ID = t.NewID()
	}
	spec.Network, spec.RawDir = true, t.RawDir
	spec.Stdout, spec.Stderr = stdout, stderr
	c, err := t.Driver.New(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("preparing the container: %w", err)
	}
	return &ServerContainer{Container: c, trial: t, stdout: stdout, stderr: stderr, name: name}, nil
}

// Failed is err at step, carrying the end of the container's stderr.
func (s *ServerContainer) Failed(step string, err error) error {
	return &FailedError{Err: fmt.Errorf("%s: %w", step, err), Stderr: tail(s.stderr.Bytes(), 4096)}
}

// Launch creates and starts the container and waits, up to limit, for its address.
// started is when Start was called.
func (s *ServerContainer) Launch(ctx context.Context, limit time.Duration) (started time.Time, n runtime.NetworkInfo, err error) {
	if err := s.Create(ctx); err != nil {
		return started, n, s.Failed("create", err)
	}
	started = time.Now()
	if err := s.Start(ctx); err != nil {
		return started, n, s.Failed("start", err)
	}
	// Asking an engine for the address is part of what a client of it waits for.
	if n, err = ContainerAddress(ctx, s, limit); err != nil {
		return started, n, s.Failed("start", err)
	}
	return started, n, nil
}

// Remove deletes the container and keeps its output. Removing the namespace and veth is
// part of the trial: a leak must not pass unseen, so its error replaces a nil *errp.
func (s *ServerContainer) Remove(ctx context.Context, errp *error) {
	errs := []error{}
	if err := runtime.Remove(context.WithoutCancel(ctx), s.Container); err != nil {
		errs = append(errs, fmt.Errorf("deleting the container: %w", err))
	}
	if out, ok := s.stdout.(Output); ok {
		errs = append(errs, s.trial.KeepRaw(s.name+".stdout", out.Bytes()))
	}
	errs = append(errs, s.trial.KeepRaw(s.name+".stderr", s.stderr.Bytes()))
	if err := errors.Join(errs...); err != nil && *errp == nil {
		*errp = err
	}
}

// FreeLoopbackPorts picks n distinct ports that nothing listens on at the host's loopback
// (the host driver shares it), below the ephemeral range so outgoing connections do not
// take them meanwhile.
func FreeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n && tries < 200; tries++ {
		p := 20000 + rand.IntN(10000)
		if seen[p] {
			continue
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, errors.New("found no free TCP port between 20000 and 30000 on 127.0.0.1")
	}
	return ports, nil
}

// LineWatch collects a process's output and tells when lines starting with given words
// appeared.
type LineWatch struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

// NewLineWatch makes an empty LineWatch.
func NewLineWatch() *LineWatch { return &LineWatch{changed: make(chan struct{}, 1)} }

func (w *LineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return n, err
}

// Bytes returns a copy of the output so far.
func (w *LineWatch) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// WaitFor returns once every word has appeared at the start of some line, or fails when ctx ends.
func (w *LineWatch) WaitFor(ctx context.Context, words ...string) error {
	for {
		missing := w.missing(words)
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return fmt.Errorf("no line starting with %q in the output: %w", missing, ctx.Err())
		}
	}
}

func (w *LineWatch) missing(words []string) []string {
	found := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(w.Bytes()))
	for sc.Scan() {
		for _, word := range words {
			if strings.HasPrefix(sc.Text(), word) {
				found[word] = true
			}
		}
	}
	var missing []string
	for _, word := range words {
		if !found[word] {
			missing = append(missing, word)
		}
	}
	return missing
}
