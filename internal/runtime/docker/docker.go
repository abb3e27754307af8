// Package docker is the driver for dockerd: its profiles and its endpoint's settings over
// the engine-neutral Docker API driver (package dockerapi). The profile picks the OCI
// runtime registered in the daemon (runc, crun, runsc, kata, ...).
package docker

import (
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/dockerapi"
)

// DriverName is the driver kind of Docker profiles.
const DriverName = "docker"

// DefaultHost is where dockerd listens unless the profile's `host` option says otherwise.
const DefaultHost = "unix:///var/run/docker.sock"

func init() {
	runtime.DeclareOptions(DriverName, dockerapi.Options{})
	prof := func(name, rt, oci, desc string) runtime.Profile {
		opts := map[string]string{runtime.OptionRuntime: rt}
		if oci != "" {
			opts[runtime.OptionOCIRuntime] = oci
		}
		return runtime.Profile{Name: name, Driver: DriverName, Options: opts, Description: desc}
	}
	runtime.Register(DriverName, New,
		prof("docker-runc", "runc", "runc", "dockerd with runc"),
		prof("docker-crun", "crun", "crun", "dockerd with crun (registered in daemon.json runtimes)"),
		prof("docker-runsc", "runsc", "runsc", "dockerd with gVisor's runsc (registered in daemon.json runtimes, --platform=ptrace)"),
		prof("docker-kata", "kata", "", "dockerd with Kata Containers (runtime kata: runtimeType io.containerd.kata.v2)"),
	)
	runtime.RegisterCleaner(DriverName, runtime.ProfileCleaner(DriverName, sweepOf))
}

var dockerEngine = dockerapi.Engine{
	Daemon: "dockerd",
	StartFix: "start it: dockerd --add-runtime crun=/usr/bin/crun (or scripts/start-daemons.sh) " +
		"or systemctl start docker",
	Stack: "docker-bridge",
	RuntimeFix: `add it to /etc/docker/daemon.json, e.g. "runtimes": {"%[1]s": {"path": "/usr/bin/%[1]s"}}, ` +
		"and restart dockerd (systemctl restart docker)",
}

// New makes a Docker driver for a profile. Options: host (the API endpoint, default
// unix:///var/run/docker.sock) and runtime (a runtime name the daemon knows, default runc).
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	return dockerapi.New(p, env, dockerEngine, hostOf(p))
}

// hostOf is the endpoint a profile points to.
func hostOf(p runtime.Profile) string { return p.Option(runtime.OptionHost, DefaultHost) }
