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

	"github.com/isobench/isobench/internal/runtime"
)

// ServerSpec describes an application server (redis, nginx, PostgreSQL, an echo server)
// that runs in a container of the runtime under test and answers a client on the host
// across the container's network.
type ServerSpec struct {
	// Name names the server in errors and its raw output files (name.stdout, name.stderr).
	Name string
	// Script is the workload, run by /bin/sh with $LISTEN set to the address the server
	// must listen on: the container's own when the driver knows it before start,
	// otherwise 0.0.0.0 in the container's own namespace (engines assign the address at
	// start); and $PORT to the TCP port, one that is free on the host's loopback, which
	// the host driver shares. It should exec the server, so that the server gets the
	// runtime's signals.
	Script string
	Env    []string
	Mounts []runtime.Mount
	// Configure, when set, runs once the listen address and port are known and before
	// the container is created, to write configuration files into bind-mounted
	// directories.
	Configure func(listen string, port int) error
	// Ready, when set, tells whether the server answers at addr; the default is that a
	// TCP connection is accepted.
	Ready func(ctx context.Context, addr string) error
	// ReadyTimeout bounds the wait for the server to answer (default 60s).
	ReadyTimeout time.Duration
	Resources    runtime.Resources
}

// ServerDir is where a server's container finds the address it listens on (file listen).
const ServerDir = "/.isobench-server"

// AppServer is a started server container.
type AppServer struct {
	*ServerContainer
	dir string // holds the listen address, bound at ServerDir
	// Port is where the server listens. Net is the container's network once it started;
	// Addr is host:port for the client.
	Port int
	Net  runtime.NetworkInfo
	Addr string
	// Started is when the runtime's start call was made; Ready when the server answered.
	Started, Ready time.Time
}

// readyPoll is how often a starting server is asked whether it answers.
const readyPoll = 10 * time.Millisecond

// StartServer makes, creates and starts the server's container and waits until it
// answers. The caller must Remove the returned server, also when StartServer failed.
func StartServer(ctx context.Context, t *Trial, s ServerSpec) (*AppServer, error) {
	if s.ReadyTimeout <= 0 {
		s.ReadyTimeout = 60 * time.Second
	}
	srv := &AppServer{}
	ports, err := FreeLoopbackPorts(1)
	if err != nil {
		return srv, err
	}
	srv.Port = ports[0]
	dir, err := NewBindDir("server")
	if err != nil {
		return srv, fmt.Errorf("%s: %w", s.Name, err)
	}
	srv.dir = dir
	// The spec is fixed before New, but the address is known only after it: the script
	// reads it from a file written in between, with the shell's own read (no process
	// start to add to the server's).
	script := fmt.Sprintf("read -r LISTEN < %s/listen || exit 1\nPORT=%d\n%s", ServerDir, srv.Port, s.Script)
	c, err := NewServerContainer(ctx, t, s.Name, runtime.Spec{
		Args:      []string{"/bin/sh", "-c", script},
		Env:       s.Env,
		Mounts:    append([]runtime.Mount{{Type: "bind", Source: dir, Destination: ServerDir, ReadOnly: true}}, s.Mounts...),
		Resources: s.Resources,
	}, &FirstByteBuffer{}, &FirstByteBuffer{})
	if err != nil {
		return srv, fmt.Errorf("%s: %w", s.Name, err)
	}
	srv.ServerContainer = c
	return srv, srv.start(ctx, t, s)
}

func (srv *AppServer) start(ctx context.Context, t *Trial, s ServerSpec) error {
	netInfo := srv.Network()
	if netInfo.HostIP == "" {
		return fmt.Errorf("runtime %s gave the %s container no network shared with the host", t.Runtime, s.Name)
	}
	listen := netInfo.ContainerIP
	if listen == "" {
		listen = "0.0.0.0"
	}
	if err := os.WriteFile(filepath.Join(srv.dir, "listen"), []byte(listen+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the %s address: %w", s.Name, err)
	}
	if s.Configure != nil {
		if err := s.Configure(listen, srv.Port); err != nil {
			return fmt.Errorf("configuring %s: %w", s.Name, err)
		}
	}
	started, netInfo, err := srv.Launch(ctx, s.ReadyTimeout)
	if err != nil {
		return err
	}
	srv.Started, srv.Net = started, netInfo
	srv.Addr = net.JoinHostPort(netInfo.ContainerIP, strconv.Itoa(srv.Port))
	ready := s.Ready
	if ready == nil {
		ready = dialOnce
	}
	readyCtx, cancel := context.WithTimeout(ctx, s.ReadyTimeout)
	defer cancel()
	for {
		last := ready(readyCtx, srv.Addr)
		if last == nil {
			srv.Ready = time.Now()
			if t.Logf != nil {
				t.Logf("%s: %s at %s answered %s after its start (stack %s)", t.Runtime, s.Name, srv.Addr,
					srv.Ready.Sub(srv.Started).Round(time.Millisecond), netInfo.Stack)
			}
			return nil
		}
		select {
		case <-readyCtx.Done():
			return srv.Failed("waiting for "+s.Name+" to answer", fmt.Errorf("no answer at %s within %s: %w", srv.Addr, s.ReadyTimeout, last))
		case <-time.After(readyPoll):
		}
	}
}

// DialServer connects to a server's TCP address, giving up after a second.
func DialServer(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

func dialOnce(ctx context.Context, addr string) error {
	conn, err := DialServer(ctx, addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Remove deletes the container (keeping its output in the trial's raw directory) and the
// address directory. Removing the namespace and link is part of the trial: its failure
// replaces a nil *errp.
func (srv *AppServer) Remove(ctx context.Context, errp *error) {
	var err error
	if srv.ServerContainer != nil {
		srv.ServerContainer.Remove(ctx, &err)
	}
	if srv.dir != "" {
		if rerr := os.RemoveAll(srv.dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the address directory: %w", rerr))
		}
	}
	if err != nil && *errp == nil {
		*errp = err
	}
}
