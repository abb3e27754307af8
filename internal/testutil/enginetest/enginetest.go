// Package enginetest gives engine driver tests a running dockerd or containerd: the one
// named by ISOBENCH_DOCKER_HOST / ISOBENCH_CONTAINERD_SOCKET (scripts/start-daemons.sh),
// else the one at the default socket, else one started for the test with its state under
// a temporary directory and stopped when the test ends.
package enginetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/daemonproc"
	"github.com/isobench/isobench/internal/mounts"
	"github.com/isobench/isobench/internal/runtime/gvisor"
)

const (
	// EnvDockerHost names a running dockerd to use, as unix:///path.
	EnvDockerHost = "ISOBENCH_DOCKER_HOST"
	// EnvContainerdSocket names a running containerd's socket to use.
	EnvContainerdSocket = "ISOBENCH_CONTAINERD_SOCKET"

	DefaultDockerHost       = "unix:///var/run/docker.sock"
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("engine tests need root (they start and use dockerd/containerd)")
	}
}

// ContainerdSocket returns the socket of a running containerd.
func ContainerdSocket(t testing.TB) string {
	t.Helper()
	return runningDaemon(t, EnvContainerdSocket, DefaultContainerdSocket, unixAnswers, func() string { return StartContainerd(t) })
}

// DockerHost returns the endpoint of a running dockerd.
func DockerHost(t testing.TB) string {
	t.Helper()
	return runningDaemon(t, EnvDockerHost, DefaultDockerHost, dockerAnswers, func() string { return StartDockerd(t, ContainerdSocket(t)).Address })
}

// runningDaemon is the address of the daemon that the environment variable env names
// (which must answer), else def if a daemon answers there, else one start starts.
func runningDaemon(t testing.TB, env, def string, answers func(string) bool, start func() string) string {
	t.Helper()
	needRoot(t)
	if a := os.Getenv(env); a != "" {
		if !answers(a) {
			t.Fatalf("%s=%s, but no daemon answers there", env, a)
		}
		return a
	}
	if answers(def) {
		return def
	}
	return start()
}

// StartContainerd starts a containerd for this test and returns its socket; the daemon
// is stopped when the test ends.
func StartContainerd(t testing.TB) string {
	t.Helper()
	needRoot(t)
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd not installed: apt-get install containerd")
	}
	dir := shortTempDir(t, "isobench-ctrd-")
	sock := filepath.Join(dir, "containerd.sock")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, dir, "containerd", bin, []string{"--config", cfgPath}, func() bool { return unixAnswers(sock) }).Start(t)
	return sock
}

// StartDockerd starts a dockerd on containerd at ctrdSock for this test, with crun and
// runsc (ptrace) registered and no default bridge, and returns its endpoint; the daemon
// is stopped when the test ends.
func StartDockerd(t testing.TB, ctrdSock string) *Daemon {
	t.Helper()
	needRoot(t)
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		t.Skip("dockerd not installed: apt-get install docker.io")
	}
	dir := shortTempDir(t, "isobench-dockerd-")
	runtimes := map[string]string{}
	for _, rt := range []string{"crun", "runsc"} {
		if p, err := exec.LookPath(rt); err == nil {
			runtimes[rt] = p
		}
	}
	var entries []string
	for name, path := range runtimes {
		args := ""
		if name == "runsc" {
			args = `, "runtimeArgs": ["` + strings.Join(RunscArgs(), `", "`) + `"]`
		}
		entries = append(entries, fmt.Sprintf(`%q: {"path": %q%s}`, name, path, args))
	}
	cfgPath := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfgPath, []byte(`{"runtimes": {`+strings.Join(entries, ", ")+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	host := "unix://" + sock
	// Its own containerd namespaces keep it apart from any other dockerd on that containerd;
	// no iptables rules keep it apart from the host's networking. It shares docker0 with the
	// same address as scripts/start-daemons.sh: dockerd deletes docker0 when started with
	// --bridge=none or another bridge, which would cut off a dockerd already running.
	args := []string{
		"--config-file", cfgPath,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--host", host,
		"--containerd", ctrdSock,
		"--containerd-namespace", "isobench-test-moby",
		"--containerd-plugins-namespace", "isobench-test-moby-plugins",
		"--bip", "198.18.255.1/24",
		"--iptables=false",
		"--default-address-pool", "base=198.19.0.0/16,size=24",
	}
	d := startDaemon(t, dir, "dockerd", bin, args, func() bool { return dockerAnswers(host) })
	d.Address = host
	d.Start(t)
	return d
}

// RunscArgs are the arguments runsc gets as an engine's runtime: the ptrace platform, and
// the network mode isobench uses for this runsc on this host (the host kernel's stack for
// releases that take every namespace for the root one), as scripts/start-daemons.sh does.
func RunscArgs() []string {
	args := []string{"--platform=ptrace"}
	if mode, _ := gvisor.NetworkMode("", gvisor.Version("runsc")); mode == gvisor.NetHost {
		args = append(args, "--network=host")
	}
	return args
}

// shortTempDir makes a temporary directory under /tmp: daemons put unix sockets in their
// state, and t.TempDir's long paths overflow the 108-byte socket path limit.
func shortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A killed daemon may leave mounts under its state.
		if err := mounts.UnmountAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	return dir
}

// Daemon is a daemon started for a test.
type Daemon struct {
	// Address is its socket (containerd) or endpoint (dockerd).
	Address string

	name, bin, logPath string
	args               []string
	ready              func() bool
	proc               *daemonproc.Process
}

// startDaemon describes a daemon and stops it when the test ends; Start runs it.
func startDaemon(t testing.TB, dir, name, bin string, args []string, ready func() bool) *Daemon {
	d := &Daemon{name: name, bin: bin, args: args, ready: ready, logPath: filepath.Join(dir, name+".log")}
	t.Cleanup(d.stop)
	return d
}

// Start runs the daemon (again) in its own process group until it answers.
func (d *Daemon) Start(t testing.TB) {
	t.Helper()
	proc, err := daemonproc.Start(exec.Command(d.bin, d.args...), d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	d.proc = proc
	if err := proc.WaitReady(context.Background(), d.ready, 30*time.Second); err != nil {
		t.Fatalf("%s: %v", d.name, err)
	}
	t.Logf("started %s (pid %d), log %s", d.name, proc.PID(), d.logPath)
}

// Kill kills the daemon with SIGKILL, as a crash would, and waits until it is gone.
func (d *Daemon) Kill() {
	if d.proc != nil {
		d.proc.Kill()
		d.proc = nil
	}
}

// stop ends the daemon: SIGTERM, then SIGKILL after 20 seconds.
func (d *Daemon) stop() {
	if d.proc != nil {
		d.proc.Stop(20 * time.Second)
		d.proc = nil
	}
}

func unixAnswers(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func dockerAnswers(host string) bool {
	sock, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return false
	}
	client := &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}
	resp, err := client.Get("http://docker/_ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
