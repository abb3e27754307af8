package interference

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/runtime"
)

// Kind is one kind of aggressor: a workload that never ends on its own and hogs one
// resource.
type Kind struct {
	Name string
	// Script is the hog, run by /bin/sh; it reads $ADDR/host-ip and $ADDR/port when
	// Network is set.
	Script string
	// Network gives the aggressor its own network and a host-side iperf3 server.
	Network bool
	// Tools are what Script runs from the image.
	Tools []string
	What  string
}

// iperf3MaxTime is the longest test iperf3 accepts, in seconds.
const iperf3MaxTime = 86400

// Kinds are the aggressors, in the order they run.
var Kinds = []Kind{
	{Name: "cpu", What: "a shell busy loop per aggressor",
		Script: `while :; do :; done`, Tools: []string{"sh"}},
	{Name: "memory", What: "sysbench memory writing 64 MiB blocks (memory bandwidth)",
		Script: `sysbench memory --threads=1 --memory-block-size=64M --memory-total-size=1000T --time=0 run >/dev/null`,
		Tools:  []string{"sysbench"}},
	{Name: "disk", What: "fio random 64 KiB writes with fsync on the container's own writable layer",
		Script: `fio --thread --name=hog --directory=/var/tmp --size=64M --rw=randwrite --bs=64k --ioengine=psync --fsync=8 --time_based --runtime=` + strconv.Itoa(iperf3MaxTime) + ` --output=/dev/null`,
		Tools:  []string{"fio"}},
	{Name: "network", What: "iperf3 TCP stream from the aggressor to a server on the host",
		Script: `host=$(cat "$ADDR/host-ip") && port=$(cat "$ADDR/port") || exit 1
waits=0
while :; do
	out=$(iperf3 --client "$host" --port "$port" --time ` + strconv.Itoa(iperf3MaxTime) + ` 2>&1)
	case "$out" in *'Connection refused'*) ;; *) printf '%s\n' "$out"; break ;; esac
	waits=$((waits + 1))
	[ "$waits" -lt 600 ] || break
	sleep 0.1
done`,
		Network: true, Tools: []string{"iperf3", "cat"}},
	{Name: "fork", What: "a fork and exec storm (/bin/true in a loop)",
		Script: `while :; do /bin/true; done`, Tools: []string{"true"}},
}

func kindNames() []string {
	var n []string
	for _, k := range Kinds {
		n = append(n, k.Name)
	}
	return n
}

func kindByName(name string) (Kind, error) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("setting aggressors: unknown aggressor %q (known: %s)", name, strings.Join(kindNames(), ", "))
}

// exitMark is printed when an aggressor's hog ends, which it never does on its own.
const exitMark = "isobench-aggressor-exited"

// addrDir is where a network aggressor finds the host's address and its server's port.
const addrDir = "/.isobench-aggressor"

// aggressor is one running aggressor container, with its host-side server if any.
type aggressor struct {
	c       runtime.Container
	runtime string
	kind    Kind
	out     *bench.FirstByteBuffer
	dir     string
	server  *exec.Cmd
	served  chan struct{}
	srvOut  bytes.Buffer
	created bool
}

// group is the aggressors of one condition; stop removes them all.
type group struct {
	mu   sync.Mutex
	list []*aggressor
}

// start makes, creates and starts count aggressors of kind on driver d.
func (g *group) start(ctx context.Context, t *bench.Trial, d runtime.Driver, name string, kind Kind, count int, res runtime.Resources, iperf3 string) error {
	for i := 0; i < count; i++ {
		a := &aggressor{runtime: name, kind: kind, out: &bench.FirstByteBuffer{}}
		g.mu.Lock()
		g.list = append(g.list, a)
		g.mu.Unlock()
		if err := a.start(ctx, t, d, res, iperf3); err != nil {
			return fmt.Errorf("starting %s aggressor %d of %d on %s: %w", kind.Name, i+1, count, name, err)
		}
	}
	return nil
}

func (a *aggressor) start(ctx context.Context, t *bench.Trial, d runtime.Driver, res runtime.Resources, iperf3 string) error {
	spec := runtime.Spec{
		ID:        t.NewID(),
		Args:      []string{"/bin/sh", "-c", fmt.Sprintf("ADDR=%s\n%s\necho %s $?", addrDir, a.kind.Script, exitMark)},
		Stdout:    a.out,
		Stderr:    a.out,
		Network:   a.kind.Network,
		RawDir:    t.RawDir,
		Resources: res,
	}
	port := 0
	if a.kind.Network {
		dir, err := bench.NewBindDir("aggressor")
		if err != nil {
			return err
		}
		a.dir = dir
		spec.Mounts = []runtime.Mount{{Type: "bind", Source: dir, Destination: addrDir, ReadOnly: true}}
		ports, err := bench.FreeLoopbackPorts(1)
		if err != nil {
			return err
		}
		port = ports[0]
	}
	c, err := d.New(ctx, spec)
	if err != nil {
		return err
	}
	a.c = c
	if a.kind.Network {
		host := c.Network().HostIP
		if host == "" {
			return errors.New("the runtime gave the aggressor no network shared with the host")
		}
		for name, v := range map[string]string{"host-ip": host, "port": strconv.Itoa(port)} {
			if err := os.WriteFile(filepath.Join(a.dir, name), []byte(v+"\n"), 0o644); err != nil {
				return fmt.Errorf("writing the aggressor's addresses: %w", err)
			}
		}
	}
	a.created = true
	if err := c.Create(ctx); err != nil {
		return &bench.FailedError{Err: fmt.Errorf("create: %w", err), Stderr: tail(a.out.Bytes())}
	}
	if err := c.Start(ctx); err != nil {
		return &bench.FailedError{Err: fmt.Errorf("start: %w", err), Stderr: tail(a.out.Bytes())}
	}
	if a.kind.Network {
		// The server starts once the container runs: an engine may put the host's
		// address on its bridge only then. The client in the container waits for it.
		netInfo, err := bench.ContainerAddress(ctx, c, 60*time.Second)
		if err != nil {
			return err
		}
		a.served = make(chan struct{})
		a.server = exec.Command(iperf3, "--server", "--bind", netInfo.HostIP, "--port", strconv.Itoa(port))
		a.server.Stdout, a.server.Stderr = &a.srvOut, &a.srvOut
		if err := runtime.StartPinned(a.server, res.CPUs); err != nil {
			return fmt.Errorf("starting the iperf3 server on the host: %w", err)
		}
		go func() {
			// An exit at any time is a failure alive reports, with the server's output.
			_ = a.server.Wait()
			close(a.served)
		}()
	}
	return nil
}

// alive fails when an aggressor's hog ended (or its host-side server exited).
func (g *group) alive() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, a := range g.list {
		if bytes.Contains(a.out.Bytes(), []byte(exitMark)) {
			return &bench.FailedError{Err: fmt.Errorf("%s aggressor %d on %s died during the measurement", a.kind.Name, i+1, a.runtime), Stderr: tail(a.out.Bytes())}
		}
		if a.served != nil {
			select {
			case <-a.served:
				return &bench.FailedError{Err: fmt.Errorf("the host-side iperf3 server of %s aggressor %d on %s exited", a.kind.Name, i+1, a.runtime), Stderr: tail(a.srvOut.Bytes())}
			default:
			}
		}
	}
	return nil
}

// stop removes every aggressor and its host-side server, keeping their output under
// rawDir; it works after ctx was cancelled.
func (g *group) stop(ctx context.Context, rawDir, label string) error {
	g.mu.Lock()
	list := g.list
	g.list = nil
	g.mu.Unlock()
	var errs []error
	for i, a := range list {
		if a.c != nil {
			if err := runtime.Remove(context.WithoutCancel(ctx), a.c); err != nil {
				errs = append(errs, fmt.Errorf("removing %s aggressor %d on %s: %w", a.kind.Name, i+1, a.runtime, err))
			}
		}
		if a.server != nil && a.served != nil {
			// Kill fails only when the server has exited already, which alive reported.
			_ = a.server.Process.Kill()
			<-a.served
		}
		if a.dir != "" {
			os.RemoveAll(a.dir)
		}
		raw := filepath.Join(rawDir, fmt.Sprintf("aggressor-%s-%d.out", label, i+1))
		out := append(a.out.Bytes(), a.srvOut.Bytes()...)
		if err := os.WriteFile(raw, out, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("keeping raw output: %w", err))
		}
	}
	return errors.Join(errs...)
}

func tail(b []byte) string {
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
