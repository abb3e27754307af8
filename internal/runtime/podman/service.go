package podman

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isobench/isobench/internal/daemonproc"
	"github.com/isobench/isobench/internal/procs"
	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a unix socket can have (sun_path is 108 bytes).
const maxSocketPath = 107

// serviceConfig is what one `podman system service` of isobench runs with.
type serviceConfig struct {
	// Dir holds the socket, containers.conf, pid file and log; Close removes it.
	Dir string
	// Podman is the podman binary.
	Podman string
	// RuntimeName and RuntimePath register the OCI runtime under [engine.runtimes] and
	// make it the default: podman 4.3's compat API ignores HostConfig.Runtime.
	RuntimeName string
	RuntimePath string
	// RuntimeFlags go to every runtime call (`podman --runtime-flag`), without dashes.
	RuntimeFlags []string
}

func (c serviceConfig) socket() string   { return filepath.Join(c.Dir, "podman.sock") }
func (c serviceConfig) confPath() string { return filepath.Join(c.Dir, "containers.conf") }
func (c serviceConfig) pidPath() string  { return filepath.Join(c.Dir, "service.pid") }
func (c serviceConfig) logPath() string  { return filepath.Join(c.Dir, "service.log") }

// host is the socket as a Docker client endpoint.
func (c serviceConfig) host() string { return "unix://" + c.socket() }

// args are podman's arguments that run the service.
func (c serviceConfig) args() []string {
	var args []string
	for _, f := range c.RuntimeFlags {
		args = append(args, "--runtime-flag="+f)
	}
	return append(args, "system", "service", "--time=0", c.host())
}

// containersConf is the whole containers.conf of the service (CONTAINERS_CONF replaces
// the system's files): the runtime as default, ulimits within the service's own hard
// limits, since podman's defaults for root (1048576) fail where those are lower, and
// netavark as network backend: with CNI, an internal network's bridge gets no host
// address, so the host could reach containers only through its default route.
func (c serviceConfig) containersConf(lim limits) string {
	return fmt.Sprintf(`# Written by isobench for its podman service; removed when the run ends.
[containers]
default_ulimits = ["nofile=%[1]d:%[1]d", "nproc=%[2]d:%[2]d"]

[engine]
runtime = %[3]q

[engine.runtimes]
%[4]s = [%[5]q]

[network]
network_backend = "netavark"
`, lim.nofile, lim.nproc, c.RuntimeName, strconv.Quote(c.RuntimeName), c.RuntimePath)
}

// helperDirs are where podman looks for netavark and aardvark-dns (containers.conf's
// default helper_binaries_dir).
var helperDirs = []string{"/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman"}

// findHelper returns the path of podman's helper binary name, or "".
func findHelper(name string) string {
	for _, dir := range helperDirs {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// maxUlimit caps limits podman would otherwise take from an unlimited hard limit.
const maxUlimit = 1 << 20

// limits are the hard limits of open files and processes that containers get.
type limits struct{ nofile, nproc uint64 }

// hostLimits guesses the service's hard limits before it runs: isobench's own, with
// processes capped at kernel.pid_max, as podman lowers its own RLIMIT_NPROC to that.
func hostLimits() limits {
	lim := limits{nofile: maxUlimit, nproc: maxUlimit}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Max < lim.nofile {
		lim.nofile = rl.Max
	}
	if unix.Getrlimit(unix.RLIMIT_NPROC, &rl) == nil && rl.Max < lim.nproc {
		lim.nproc = rl.Max
	}
	if n, err := procs.PIDMax(); err == nil && n < lim.nproc {
		lim.nproc = n
	}
	return lim
}

// processLimits reads the hard limits of a running process (prlimit(2)).
func processLimits(pid int) (limits, error) {
	lim := limits{nofile: maxUlimit, nproc: maxUlimit}
	for res, field := range map[int]*uint64{unix.RLIMIT_NOFILE: &lim.nofile, unix.RLIMIT_NPROC: &lim.nproc} {
		var rl unix.Rlimit
		if err := unix.Prlimit(pid, res, nil, &rl); err != nil {
			return limits{}, fmt.Errorf("reading the limits of process %d: %w", pid, err)
		}
		if rl.Max < *field {
			*field = rl.Max
		}
	}
	return lim, nil
}

// service is a podman service isobench started; nil where it found one running.
type service struct {
	cfg  serviceConfig
	proc *daemonproc.Process
}

// startService runs `podman system service` on cfg's socket until it answers, unless a
// service already answers there: then it returns nil and leaves that one alone.
func startService(ctx context.Context, cfg serviceConfig) (*service, error) {
	if len(cfg.socket()) > maxSocketPath {
		return nil, fmt.Errorf("podman service socket %s is longer than %d bytes: use a shorter isobench home", cfg.socket(), maxSocketPath)
	}
	if answers(ctx, cfg.socket()) {
		return nil, nil
	}
	lim := hostLimits()
	s, err := runService(ctx, cfg, lim)
	if err != nil {
		return nil, err
	}
	// Ulimits above the service's own hard limits make every container fail to start
	// (setrlimit: operation not permitted): start again with the service's limits.
	got, err := processLimits(s.proc.PID())
	if err != nil || (got.nofile >= lim.nofile && got.nproc >= lim.nproc) {
		return s, nil
	}
	s.stop()
	return runService(ctx, cfg, limits{nofile: min(lim.nofile, got.nofile), nproc: min(lim.nproc, got.nproc)})
}

// runService writes the service's files and runs it until it answers.
func runService(ctx context.Context, cfg serviceConfig, lim limits) (*service, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("podman service: %w", err)
	}
	// A socket file left by a killed service would make podman fail to listen.
	if err := os.Remove(cfg.socket()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("podman service: removing stale socket: %w", err)
	}
	if err := os.WriteFile(cfg.confPath(), []byte(cfg.containersConf(lim)), 0o600); err != nil {
		return nil, fmt.Errorf("podman service: %w", err)
	}
	cmd := exec.Command(cfg.Podman, cfg.args()...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+cfg.confPath())
	proc, err := daemonproc.Start(cmd, cfg.logPath())
	if err != nil {
		return nil, fmt.Errorf("podman service: %w", err)
	}
	s := &service{cfg: cfg, proc: proc}
	// The pid file lets `isobench cleanup` stop a service a killed run left.
	if err := os.WriteFile(cfg.pidPath(), []byte(strconv.Itoa(proc.PID())), 0o600); err != nil {
		s.stop()
		return nil, fmt.Errorf("podman service: %w", err)
	}
	if err := proc.WaitReady(ctx, func() bool { return answers(ctx, cfg.socket()) }, 30*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("podman service on %s: %w", cfg.socket(), err)
	}
	return s, nil
}

// stop ends the service (SIGTERM, SIGKILL after 15 seconds) and removes its directory.
// Containers live on without it: conmon, not the service, watches them.
func (s *service) stop() {
	if s == nil {
		return
	}
	s.proc.Stop(15 * time.Second)
	_ = os.RemoveAll(s.cfg.Dir)
}

// answers tells whether a Docker-compatible API answers _ping on the socket.
func answers(ctx context.Context, sock string) bool {
	client := &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://podman/_ping", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stopLeftService kills the service a killed run left in dir, if its pid file names a
// live `podman ... system service` on dir's socket, and removes dir. It reports whether
// it killed one.
func stopLeftService(dir string) (bool, error) {
	cfg := serviceConfig{Dir: dir}
	killed := false
	if b, err := os.ReadFile(cfg.pidPath()); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		cmdline := strings.Join(procs.Cmdline(pid), "\x00") + "\x00"
		// The pid may have been reused: kill only the service on this very socket.
		if pid > 1 && strings.Contains(cmdline, "system\x00service\x00") && strings.Contains(cmdline, cfg.host()) {
			if err := syscall.Kill(pid, syscall.SIGTERM); err == nil {
				killed = true
				for i := 0; i < 150 && procs.Alive(pid); i++ {
					time.Sleep(100 * time.Millisecond)
				}
				if procs.Alive(pid) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return killed, fmt.Errorf("removing %s: %w", dir, err)
	}
	return killed, nil
}
