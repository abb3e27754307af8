package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/isobench/isobench/internal/hostcpu"
	"github.com/isobench/isobench/internal/runtime"
)

// ServerSpec describes a server that runs in a container of the runtime under test and
// is reached by a client on the host over the container's network.
type ServerSpec struct {
	// Name prefixes the raw output files (name.stdout, name.stderr).
	Name string
	// Port is the TCP port the server listens on.
	Port int
	// Script is the workload, run by /bin/sh with $LISTEN set to the address the server
	// must listen on: the container's own when the driver knows it before start,
	// otherwise 0.0.0.0 in the container's own namespace (engines assign the address at
	// start). It should exec the server, so that the server gets the runtime's signals.
	Script string
	Env    []string
	Mounts []runtime.Mount
	// Configure, when set, runs after the container's network is known and before it is
	// created, to write configuration files into bind-mounted directories.
	Configure func(listenIP string) error
	// Ready, when set, tells whether the server answers at addr; a refused TCP connection
	// is the default test.
	Ready func(ctx context.Context, addr string) error
	// ReadyTimeout bounds the wait for the server to answer.
	ReadyTimeout time.Duration
	Resources    runtime.Resources
}

// Server is a started server container.
type Server struct {
	c      runtime.Container
	t      *Trial
	name   string
	stdout *FirstByteBuffer
	stderr *FirstByteBuffer
	dir    string // holds the listen address, bound at ServerDir
	// Net is the container's network once the server answers.
	Net runtime.NetworkInfo
	// Addr is host:port the client connects to.
	Addr string
	// Started is when the runtime's start call was made; Ready when the server answered.
	Started, Ready time.Time
}

// readyPoll is how often a starting server is asked whether it answers.
const readyPoll = 10 * time.Millisecond

// StartServer makes, creates and starts the server's container and waits until it
// answers. The caller must Close the returned server, also when StartServer failed.
func StartServer(ctx context.Context, t *Trial, s ServerSpec) (*Server, error) {
	if s.ReadyTimeout <= 0 {
		s.ReadyTimeout = 60 * time.Second
	}
	srv := &Server{t: t, name: s.Name, stdout: &FirstByteBuffer{}, stderr: &FirstByteBuffer{}}
	dir, err := os.MkdirTemp("", runtime.NamePrefix+"server-")
	if err != nil {
		return nil, fmt.Errorf("making the %s address directory: %w", s.Name, err)
	}
	srv.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return srv, fmt.Errorf("making the %s address directory: %w", s.Name, err)
	}
	// The spec is fixed before New, but the address is known only after it: the script
	// reads it from a file written in between.
	script := fmt.Sprintf("LISTEN=$(cat %s/listen) || exit 1\n%s", ServerDir, s.Script)
	c, err := t.Driver.New(ctx, runtime.Spec{
		ID:        t.NewID(),
		Args:      []string{"/bin/sh", "-c", script},
		Env:       s.Env,
		Stdout:    srv.stdout,
		Stderr:    srv.stderr,
		Network:   true,
		RawDir:    t.RawDir,
		Mounts:    append([]runtime.Mount{{Type: "bind", Source: dir, Destination: ServerDir, ReadOnly: true}}, s.Mounts...),
		Resources: s.Resources,
	})
	if err != nil {
		return srv, fmt.Errorf("preparing the %s container: %w", s.Name, err)
	}
	srv.c = c
	return srv, srv.start(ctx, s)
}

// ServerDir is where a server's container finds the address it listens on (file listen).
const ServerDir = "/.isobench-server"

func (srv *Server) start(ctx context.Context, s ServerSpec) error {
	listen := srv.c.Network().ContainerIP
	if listen == "" {
		listen = "0.0.0.0"
	}
	if srv.c.Network().HostIP == "" {
		return fmt.Errorf("runtime %s gave the %s container no network shared with the host", srv.t.Runtime, s.Name)
	}
	if err := os.WriteFile(filepath.Join(srv.dir, "listen"), []byte(listen+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the %s address: %w", s.Name, err)
	}
	if s.Configure != nil {
		if err := s.Configure(listen); err != nil {
			return fmt.Errorf("configuring %s: %w", s.Name, err)
		}
	}
	if err := srv.c.Create(ctx); err != nil {
		return srv.Failed("create", err)
	}
	srv.Started = time.Now()
	if err := srv.c.Start(ctx); err != nil {
		return srv.Failed("start", err)
	}
	netInfo, err := ContainerAddress(ctx, srv.c, s.ReadyTimeout)
	if err != nil {
		return srv.Failed("start", err)
	}
	srv.Net = netInfo
	srv.Addr = net.JoinHostPort(netInfo.ContainerIP, strconv.Itoa(s.Port))
	ready := s.Ready
	if ready == nil {
		ready = dialOnce
	}
	readyCtx, cancel := context.WithTimeout(ctx, s.ReadyTimeout)
	defer cancel()
	var last error
	for {
		if last = ready(readyCtx, srv.Addr); last == nil {
			srv.Ready = time.Now()
			return nil
		}
		select {
		case <-readyCtx.Done():
			return srv.Failed("waiting for "+s.Name+" to answer", fmt.Errorf("no answer at %s within %s: %w", srv.Addr, s.ReadyTimeout, last))
		case <-time.After(readyPoll):
		}
	}
}

func dialOnce(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Failed wraps err with the step and the server's last stderr, for the failure record.
func (srv *Server) Failed(step string, err error) error {
	return &FailedError{Err: fmt.Errorf("%s: %w", step, err), Stderr: tail(srv.stderr.Bytes(), 4096)}
}

// Container is the server's container.
func (srv *Server) Container() runtime.Container { return srv.c }

// CPU reads the host CPU accounting of everything the runtime started for the server.
func (srv *Server) CPU(ctx context.Context) (*hostcpu.Snapshot, error) {
	return hostcpu.Take(ctx, srv.c)
}

// Close removes the container and keeps its output in the trial's raw directory.
// Removing the namespace and link is part of the trial: a failure is returned.
func (srv *Server) Close(ctx context.Context) error {
	if srv == nil {
		return nil
	}
	if srv.dir != "" {
		defer os.RemoveAll(srv.dir)
	}
	if srv.c == nil {
		return nil
	}
	err := runtime.Remove(context.WithoutCancel(ctx), srv.c)
	if err != nil {
		err = fmt.Errorf("deleting the %s container: %w", srv.name, err)
	}
	for suffix, b := range map[string]*FirstByteBuffer{".stdout": srv.stdout, ".stderr": srv.stderr} {
		if werr := os.WriteFile(filepath.Join(srv.t.RawDir, srv.name+suffix), b.Bytes(), 0o644); werr != nil {
			err = errors.Join(err, fmt.Errorf("keeping raw output: %w", werr))
		}
	}
	return err
}
