package oci

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/runtime"
)

// defaultCaps are the capabilities runc's default spec gives a container.
var defaultCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN",
	"CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_SETFCAP"}

// buildSpec makes the config.json of one container: the defaults of `runc spec`, with the
// workload, its mounts and, when given, the network namespace to join.
func buildSpec(s runtime.Spec, rootfs, netnsPath string) (*specs.Spec, error) {
	if len(s.Args) == 0 {
		return nil, fmt.Errorf("container %s: no command to run", s.ID)
	}
	env := s.Env
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	cwd := s.Cwd
	if cwd == "" {
		cwd = "/"
	}
	caps := append([]string(nil), defaultCaps...)
	spec := &specs.Spec{
		// The version every runtime here understands; newer ones are refused by crun 1.8.
		Version: "1.0.2",
		Process: &specs.Process{
			Args: s.Args,
			Env:  env,
			Cwd:  cwd,
			User: specs.User{UID: 0, GID: 0},
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{nofile()},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: rootfs},
		Hostname: "isobench",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: netnsPath},
			},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
				"/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	if !s.Resources.IsZero() {
		spec.Linux.Resources = resources(s.Resources)
		// An explicit cgroup per container, so that a limit never lands on a shared parent.
		spec.Linux.CgroupsPath = "/" + s.ID
	}
	for _, m := range s.Mounts {
		switch m.Type {
		case "bind":
			opts := []string{"rbind", "nosuid", "nodev"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			spec.Mounts = append(spec.Mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
		case "tmpfs":
			opts := []string{"nosuid", "nodev", "mode=1777"}
			if m.SizeBytes > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.SizeBytes))
			}
			spec.Mounts = append(spec.Mounts, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			return nil, fmt.Errorf("container %s: mount type %q is not supported (bind or tmpfs)", s.ID, m.Type)
		}
	}
	return spec, nil
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// nofile gives the container the open-file limit isobench itself has: a higher one fails
// on hosts with a lower hard limit, a lower one would handicap containers against host.
func nofile() specs.POSIXRlimit {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}
	}
	return specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: r.Max, Soft: r.Cur}
}

// resources is the runtime-spec form of a container's limits.
func resources(r runtime.Resources) *specs.LinuxResources {
	res := &specs.LinuxResources{}
	if r.CPUs != "" {
		res.CPU = &specs.LinuxCPU{Cpus: r.CPUs}
	}
	if r.MemoryBytes > 0 {
		limit := r.MemoryBytes
		// Swap limited to the same value: no swapping past the limit.
		res.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	}
	return res
}
